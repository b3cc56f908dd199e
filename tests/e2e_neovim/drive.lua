-- Drives the init.lua config like a user would: plan, run, approve the re-plan when
-- Neovim is asked through window/showMessageRequest, and see the plan done. Writes
-- what it saw to $PLANLOOP_NVIM_OUT (JSON) and quits; the pytest side asserts on it.
local out = { steps = {}, questions = {}, errors = {} }

local function finish(code)
  vim.fn.writefile({ vim.json.encode(out) }, os.getenv("PLANLOOP_NVIM_OUT"))
  vim.cmd((code == 0) and "qa!" or "cquit " .. code)
end

-- The stock handler asks with inputlist(), which a headless Neovim cannot show; this
-- picks what a user would type: the action titled "Approve".
vim.lsp.handlers["window/showMessageRequest"] = function(_, params)
  table.insert(out.questions, { message = params.message, actions = params.actions })
  for _, action in ipairs(params.actions or {}) do
    if action.title == "Approve" then return action end
  end
  return vim.NIL
end

local ok, failure = pcall(function()
  vim.lsp.set_log_level("info")
  planloop.start()
  local result, err = planloop.command("planloop.getPlan", vim.empty_dict(), 60000)
  assert(not err, "getPlan before a plan: " .. vim.inspect(err))
  out.before = (result == vim.NIL or result == nil) and "none" or "some"

  result, err = planloop.command("planloop.createPlan", { goal = "Make c.txt say good" }, 120000)
  assert(not err, "createPlan: " .. vim.inspect(err))
  out.created = { version = result.plan.version, state = result.state }

  result, err = planloop.command("planloop.runAll", nil, 300000)
  assert(not err, "runAll: " .. vim.inspect(err))
  out.run = { state = result.state, reason = result.reason }

  -- arguments = { {} }: Neovim may encode the empty table as [] (the server accepts it)
  result, err = planloop.command("planloop.getPlan", {}, 60000)
  assert(not err, "getPlan: " .. vim.inspect(err))
  out.final = {
    state = result.state,
    version = result.plan.version,
    decided = result.plan.revision and result.plan.revision.decided,
    decided_by = result.plan.revision and result.plan.revision.decided_by,
  }
  for _, step in ipairs(result.plan.steps) do
    table.insert(out.steps, { id = step.id, status = step.status })
  end
  out.log_file = vim.lsp.get_log_path()
end)
if not ok then
  table.insert(out.errors, tostring(failure))
  finish(3)
else
  finish(0)
end
