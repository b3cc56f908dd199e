use zed_extension_api::{self as zed, LanguageServerId, Result};

struct Planloop;

impl zed::Extension for Planloop {
    fn new() -> Self { Planloop }
    fn language_server_command(&mut self, _id: &LanguageServerId, worktree: &zed::Worktree)
        -> Result<zed::Command> {
        let path = worktree.which("planloop").ok_or("planloop is not on PATH")?;
        Ok(zed::Command { command: path, args: vec!["serve".into()], env: worktree.shell_env() })
    }
}

zed::register_extension!(Planloop);
