//! `rcrun completion bash|zsh|fish|elvish|powershell` (a shell completion
//! script on stdout) and `rcrun completion man DIR` (one man page per
//! command), both generated from the clap definitions.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;

/// Shell completions and man pages.
#[derive(Debug, Subcommand)]
pub enum CompletionCmd {
    /// Completion script for bash.
    Bash,
    /// Completion script for zsh.
    Zsh,
    /// Completion script for fish.
    Fish,
    /// Completion script for elvish.
    Elvish,
    /// Completion script for PowerShell.
    Powershell,
    /// Write `rcrun.1` and one page per subcommand into DIR.
    Man {
        /// Directory to write the pages into (created).
        dir: PathBuf,
    },
}

/// Run a `completion` subcommand.
pub fn run(cmd: CompletionCmd) -> Result<()> {
    let shell = match cmd {
        CompletionCmd::Bash => Shell::Bash,
        CompletionCmd::Zsh => Shell::Zsh,
        CompletionCmd::Fish => Shell::Fish,
        CompletionCmd::Elvish => Shell::Elvish,
        CompletionCmd::Powershell => Shell::PowerShell,
        CompletionCmd::Man { dir } => return man(&dir),
    };
    let mut c = super::Cli::command();
    clap_complete::generate(shell, &mut c, "rcrun", &mut std::io::stdout());
    Ok(())
}

fn man(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    write_pages(&super::Cli::command(), "rcrun", dir)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let page = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name)
        .render(&mut buf)
        .with_context(|| format!("render {}", page.display()))?;
    std::fs::write(&page, buf).with_context(|| format!("write {}", page.display()))?;
    println!("{}", page.display());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_are_written_for_every_visible_command() {
        let dir = std::env::temp_dir().join(format!("rcrun-man-test-{}", std::process::id()));
        man(&dir).unwrap();
        for page in ["rcrun.1", "rcrun-run.1", "rcrun-ps.1", "rcrun-pod-create.1"] {
            let text = std::fs::read_to_string(dir.join(page)).unwrap();
            assert!(text.contains(".TH"), "{page}");
        }
        assert!(!dir.join("rcrun-container-cleanup.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
