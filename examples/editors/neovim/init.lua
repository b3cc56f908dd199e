-- planloop in Neovim 0.7 or newer: a minimal config (docs/editors/neovim.md publishes
-- this file; tests/e2e_neovim runs it in a headless Neovim).
--
-- :PlanloopStart          start `planloop serve` for the current directory
-- :PlanloopPlan {goal}    planloop.createPlan
-- :PlanloopRun            planloop.runAll (approvals arrive as window/showMessageRequest:
--                         Neovim asks with a numbered list, 1 = Approve, 2 = Reject)
-- :PlanloopShow           planloop.getPlan, the plan as Markdown in a scratch buffer
--
-- Models: add flags to the command, e.g.
--   vim.g.planloop_cmd = { "planloop", "serve", "--planner", "anthropic:claude-opus-5-5" }
-- or set PLANLOOP_PLANNER / PLANLOOP_EXECUTOR, or write planloop.toml in the project.

local planloop = { client_id = nil }
_G.planloop = planloop

function planloop.start()
  if planloop.client_id and vim.lsp.get_client_by_id(planloop.client_id) then
    return planloop.client_id
  end
  planloop.client_id = vim.lsp.start_client({
    name = "planloop",
    cmd = vim.g.planloop_cmd or { "planloop", "serve" },
    root_dir = vim.fn.getcwd(),
    -- opt in to planloop/planChanged and planloop/stepEvent only if you handle them
    init_options = { planloopNotifications = false },
  })
  return planloop.client_id
end

-- One planloop.* command, waited for; returns result, err.
function planloop.command(name, args, timeout_ms)
  local client = vim.lsp.get_client_by_id(planloop.start())
  local response, reason = client.request_sync(
    "workspace/executeCommand",
    { command = name, arguments = { args or {} } },
    timeout_ms or 600000
  )
  if not response then
    return nil, { message = reason or "no answer" }
  end
  return response.result, response.err
end

local function report(result, err)
  if err then
    vim.notify("planloop: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
  elseif result and result ~= vim.NIL then
    vim.notify(("planloop: %s (%d/%d done)"):format(
      result.state or "ok", result.progress and result.progress.done or 0,
      result.progress and result.progress.total or 0))
  end
  return result
end

vim.api.nvim_create_user_command("PlanloopStart", function() planloop.start() end, {})
vim.api.nvim_create_user_command("PlanloopPlan", function(o)
  report(planloop.command("planloop.createPlan", { goal = o.args }))
end, { nargs = "+" })
vim.api.nvim_create_user_command("PlanloopRun", function()
  report(planloop.command("planloop.runAll"))
end, {})
vim.api.nvim_create_user_command("PlanloopShow", function()
  local result, err = planloop.command("planloop.getPlan")
  if report(result, err) and result ~= vim.NIL then
    vim.cmd("new")
    vim.bo.buftype, vim.bo.filetype = "nofile", "markdown"
    vim.api.nvim_buf_set_lines(0, 0, -1, false, vim.split(result.markdown, "\n"))
  end
end, {})
