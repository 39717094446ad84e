//! Registry commands: `rcrun pull`, `rcrun push`, `rcrun login`,
//! `rcrun logout`. Argument parsing and printing only; the work is in
//! `rcrun_image::registry`.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rcrun_image::registry::{
    self, BlobOutcome, Credentials, Platform, Progress, PullOptions, Quiet, RegistryOptions,
};
use rcrun_image::{Reference, Store};

use super::GlobalOpts;

/// TLS and credential flags shared by pull, push and login.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Require HTTPS with a verified certificate (`--tls-verify=false` allows
    /// self-signed certificates and plain HTTP).
    #[arg(long = "tls-verify", action = ArgAction::Set, default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,
}

/// `rcrun pull`.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// Platform to choose from a multi-platform image (os/arch[/variant]);
    /// the host's by default.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Credentials for the registry (else those from `rcrun login`).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Image reference (`nginx`, `host:5000/a/b:tag`, `...@sha256:...`).
    pub reference: String,
}

/// `rcrun push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Print only the manifest digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Credentials for the registry (else those from `rcrun login`).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// Image in the store (name or id).
    pub image: String,
    /// Where to push (`host:5000/a/b:tag`, optionally `docker://...`);
    /// the image's own name by default.
    pub destination: Option<String>,
}

/// `rcrun login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// User name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer
    /// --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Registry host[:port].
    pub registry: String,
}

/// `rcrun logout`.
#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    /// Remove the credentials of every registry.
    #[arg(short, long, conflicts_with = "registry")]
    pub all: bool,
    /// Registry host[:port].
    #[arg(required_unless_present = "all")]
    pub registry: Option<String>,
}

fn registry_options(g: &GlobalOpts, tls: &TlsArgs, creds: Option<&str>) -> Result<RegistryOptions> {
    let mut opts = RegistryOptions::new(&g.data_root);
    opts.tls_verify = tls.tls_verify;
    if let Some(c) = creds {
        opts.creds = Some(Credentials::parse(c)?);
    }
    Ok(opts)
}

fn open_store(g: &GlobalOpts) -> Result<Store> {
    Store::open(&g.data_root)
        .with_context(|| format!("open image store under {}", g.data_root.display()))
}

/// `rcrun pull`: print progress on a terminal, the image id last.
pub fn pull(g: &GlobalOpts, a: PullArgs) -> Result<()> {
    let reference = Reference::parse(&a.reference)?;
    let platform = a.platform.as_deref().map(Platform::parse).transpose()?;
    let opts = PullOptions {
        registry: registry_options(g, &a.tls, a.creds.as_deref())?,
        platform,
    };
    let store = open_store(g)?;
    let show = !a.quiet && std::io::stderr().is_terminal();
    let outcome = if show {
        let bars = Bars::new();
        let r = registry::pull(&store, &reference, &opts, &bars);
        bars.clear();
        r
    } else {
        registry::pull(&store, &reference, &opts, &Quiet)
    }
    .with_context(|| format!("pull {reference}"))?;
    if !a.quiet {
        let f = &outcome.fetched;
        eprintln!(
            "Pulled {reference}: manifest {}, {} blob(s) downloaded ({} bytes), {} already present",
            f.manifest_digest,
            f.report.downloaded.len(),
            f.report.bytes,
            f.report.present.len()
        );
    }
    println!("{}", outcome.image.id.trim_start_matches("sha256:"));
    Ok(())
}

/// `rcrun push`: print the pushed manifest digest last.
pub fn push(g: &GlobalOpts, a: PushArgs) -> Result<()> {
    let store = open_store(g)?;
    let dest_text = match a.destination.as_deref() {
        Some(d) => d,
        None => {
            // Without a destination the image's own name is it: refuse an
            // id or short name that would silently mean Docker Hub.
            let image = store.resolve(&a.image)?;
            let named = Reference::parse(&a.image)
                .map(|r| image.names.contains(&r.to_string()))
                .unwrap_or(false);
            if !named {
                bail!(
                    "push {}: give a destination (host[:port]/repository[:tag]); \
                     the image has no such full name",
                    a.image
                );
            }
            &a.image
        }
    };
    let dest_text = dest_text.strip_prefix("docker://").unwrap_or(dest_text);
    let dest = Reference::parse(dest_text).with_context(|| {
        format!("destination {dest_text:?}: name it as host[:port]/repository[:tag]")
    })?;
    let opts = registry_options(g, &a.tls, a.creds.as_deref())?;
    let show = !a.quiet && std::io::stderr().is_terminal();
    let outcome = if show {
        let bars = Bars::new();
        let r = registry::push(&store, &a.image, &dest, &opts, &bars);
        bars.clear();
        r
    } else {
        registry::push(&store, &a.image, &dest, &opts, &Quiet)
    }
    .with_context(|| format!("push {} to {dest}", a.image))?;
    if !a.quiet {
        eprintln!(
            "Pushed {dest}: {} blob(s) uploaded, {} already in the registry",
            outcome.uploaded, outcome.existing
        );
    }
    println!("{}", outcome.manifest_digest);
    Ok(())
}

/// `rcrun login`: check the credentials, then store them.
pub fn login(g: &GlobalOpts, a: LoginArgs) -> Result<()> {
    let Some(username) = a.username else {
        bail!("login {}: give the user name with -u USER", a.registry);
    };
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("read password from standard input")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => bail!(
            "login {}: give the password with -p PASSWORD or --password-stdin",
            a.registry
        ),
    };
    let creds = Credentials { username, password };
    let opts = registry_options(g, &a.tls, None)?;
    let file = registry::login(&a.registry, &creds, &opts)
        .with_context(|| format!("login to {}", a.registry))?;
    tracing::debug!(auth_file = %file.display(), "credentials stored");
    println!("Login Succeeded!");
    Ok(())
}

/// `rcrun logout`: forget stored credentials.
pub fn logout(_g: &GlobalOpts, a: LogoutArgs) -> Result<()> {
    let file = registry::auth_file::default_path();
    if a.all {
        let n = registry::logout_all(&file)?;
        println!("Removed login credentials for {n} registries");
        return Ok(());
    }
    let registry = a.registry.unwrap_or_default();
    registry::logout(&registry, &file)?;
    println!("Removed login credentials for {registry}");
    Ok(())
}

/// Per-blob byte counters on stderr, for terminals.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl Bars {
    fn new() -> Bars {
        let style = ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes:>10}/{total_bytes:10} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            style,
        }
    }

    fn short(digest: &str) -> String {
        let hex = digest.trim_start_matches("sha256:");
        hex[..hex.len().min(12)].to_string()
    }

    /// The bars by digest (a poisoned lock still holds usable bars).
    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn resolved(&self, reference: &str, manifest_digest: &str) {
        let _ = self
            .multi
            .println(format!("{reference}: manifest {manifest_digest}"));
    }

    fn blob_started(&self, digest: &str, size: u64) {
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(self.style.clone());
        bar.set_prefix(Bars::short(digest));
        self.bars().insert(digest.to_string(), bar);
    }

    fn blob_progress(&self, digest: &str, done: u64) {
        if let Some(bar) = self.bars().get(digest) {
            bar.set_position(done);
        }
    }

    fn blob_finished(&self, digest: &str, outcome: BlobOutcome) {
        let msg = match outcome {
            BlobOutcome::Transferred => "done",
            BlobOutcome::AlreadyPresent => "already present",
        };
        match self.bars().get(digest) {
            Some(bar) => bar.finish_with_message(msg),
            None => {
                let _ = self.multi.println(format!("{} {msg}", Bars::short(digest)));
            }
        }
    }

    fn unpacking(&self) {
        let _ = self.multi.println("unpacking layers");
    }
}
