-- CodeCompanion (olimorris/codecompanion.nvim): planloop as an ACP adapter
require("codecompanion").setup({
  adapters = {
    acp = {
      planloop = function()
        return require("codecompanion.adapters").extend("gemini_cli", {
          name = "planloop",
          formatted_name = "planloop",
          commands = { default = { "planloop", "acp" } },
          defaults = { auth_method = "none" },
        })
      end,
    },
  },
  strategies = { chat = { adapter = "planloop" } },
})
