(with-eval-after-load 'eglot
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode markdown-mode)
                 . ("planloop" "serve"
                    "--planner" "anthropic:claude-opus-5-5"
                    "--executor" "anthropic:claude-sonnet-5-5"))))

(defun planloop-command (command &optional args)
  "Run the planloop COMMAND (a string such as \"planloop.runAll\") with ARGS (a plist)."
  (eglot-execute-command (eglot--current-server-or-lose) command (if args (vector args) [])))

(defun planloop-plan (goal)
  (interactive "sGoal: ")
  (planloop-command "planloop.createPlan" (list :goal goal)))

(defun planloop-run ()
  (interactive)
  (message "planloop: %s" (plist-get (planloop-command "planloop.runAll") :state)))
