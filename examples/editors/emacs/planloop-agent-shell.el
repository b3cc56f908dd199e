;;; planloop-agent-shell.el --- planloop as an ACP agent in agent-shell -*- lexical-binding: t; -*-
;; agent-shell (xenodium/agent-shell) runs any ACP agent through acp.el.
(require 'agent-shell)

(defun planloop-agent-shell ()
  "Start a planloop session in agent-shell (`planloop acp' on stdio)."
  (interactive)
  (agent-shell-start
   :config (agent-shell-make-agent-config
            :mode-line-name "planloop"
            :buffer-name "planloop"
            :shell-prompt "planloop> "
            :shell-prompt-regexp "planloop> "
            :client-maker (lambda (buffer)
                            (acp-make-client :command "planloop"
                                             :command-params '("acp")
                                             :context-buffer buffer)))))

(provide 'planloop-agent-shell)
;;; planloop-agent-shell.el ends here
