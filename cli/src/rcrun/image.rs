//! Local image commands: `rcrun images`, `rcrun image inspect|ls|rm|prune|
//! tag|load|save|import`, `rcrun rmi`, `rcrun load`, `rcrun save`,
//! `rcrun import`, `rcrun tag`. Argument parsing and printing only; the work
//! is in `rcrun_image` (store, archive). Registry commands are in
//! `image_registry`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rcrun_image::archive::{self, ArchiveFormat};
use rcrun_image::{ImageRecord, Reference, Store};

use super::GlobalOpts;

/// The image commands, flattened into `rcrun`'s top level.
#[derive(Debug, Subcommand)]
pub enum ImageCommands {
    /// List images.
    Images(ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Remove images.
    Rmi(RmiArgs),
    /// Load images from a docker-save or OCI archive (or an OCI layout dir).
    Load(LoadArgs),
    /// Save images to an archive.
    Save(SaveArgs),
    /// Create an image from a root filesystem tarball.
    Import(ImportArgs),
    /// Give an image another name.
    Tag(TagArgs),
}

/// `rcrun image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Show images' details as JSON.
    Inspect(InspectArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Remove dangling images and blobs and layers no image uses.
    Prune(PruneArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Load images from an archive.
    Load(LoadArgs),
    /// Save images to an archive.
    Save(SaveArgs),
    /// Create an image from a root filesystem tarball.
    Import(ImportArgs),
}

/// `rcrun images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Print only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full image ids.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `rcrun image inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images (names, short names or id prefixes).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `rcrun rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even if containers use the image (they keep their layers).
    #[arg(short, long)]
    pub force: bool,
    /// Images (names, short names or id prefixes).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `rcrun image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Accepted for docker compatibility; prune never asks.
    #[arg(short, long)]
    pub force: bool,
}

/// `rcrun load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Archive to read (tar, tar.gz, tar.zst) or OCI layout directory;
    /// stdin when not given.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `rcrun save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// File to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// `oci-archive` or `docker-archive`.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Images to save.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `rcrun import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Root filesystem tarball (plain, gzip or zstd), `-` for stdin.
    pub file: String,
    /// Name for the new image.
    pub reference: Option<String>,
}

/// `rcrun tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Image to name.
    pub source: String,
    /// New name.
    pub target: String,
}

/// Run an image command.
pub fn run(g: &GlobalOpts, cmd: ImageCommands) -> Result<()> {
    match cmd {
        ImageCommands::Images(a) => images(g, a),
        ImageCommands::Image(c) => match c {
            ImageCmd::Ls(a) => images(g, a),
            ImageCmd::Inspect(a) => inspect(g, a),
            ImageCmd::Rm(a) => rmi(g, a),
            ImageCmd::Prune(a) => prune(g, a),
            ImageCmd::Tag(a) => tag(g, a),
            ImageCmd::Load(a) => load(g, a),
            ImageCmd::Save(a) => save(g, a),
            ImageCmd::Import(a) => import(g, a),
        },
        ImageCommands::Rmi(a) => rmi(g, a),
        ImageCommands::Load(a) => load(g, a),
        ImageCommands::Save(a) => save(g, a),
        ImageCommands::Import(a) => import(g, a),
        ImageCommands::Tag(a) => tag(g, a),
    }
}

fn store(g: &GlobalOpts) -> Result<Store> {
    Store::open(&g.data_root)
        .with_context(|| format!("open the image store in {}", g.data_root.display()))
}

fn images(g: &GlobalOpts, a: ImagesArgs) -> Result<()> {
    let list = store(g)?.list()?;
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &list {
            let id = if a.no_trunc {
                i.id.clone()
            } else {
                i.short_id().to_string()
            };
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&list)?),
        "table" => {
            println!(
                "{:<40} {:<16} {:<14} {:<22} {:>9}",
                "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"
            );
            for i in &list {
                let id = if a.no_trunc {
                    i.id.clone()
                } else {
                    i.short_id().to_string()
                };
                let created = i
                    .created
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(19)
                    .collect::<String>();
                let rows: Vec<(String, String)> = if i.names.is_empty() {
                    vec![("<none>".into(), "<none>".into())]
                } else {
                    i.names.iter().map(|n| split_name(n)).collect()
                };
                for (repo, tag) in rows {
                    println!(
                        "{repo:<40} {tag:<16} {id:<14} {created:<22} {:>9}",
                        human_size(i.size)
                    );
                }
            }
        }
        other => bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}

/// (repository as docker prints it, tag).
fn split_name(n: &str) -> (String, String) {
    match Reference::parse(n) {
        Ok(r) => {
            let tag = r.tag.clone().unwrap_or_else(|| "<none>".into());
            let repo = Reference {
                tag: None,
                digest: None,
                ..r
            }
            .familiar();
            (repo, tag)
        }
        Err(_) => (n.to_string(), "<none>".into()),
    }
}

/// Decimal units as docker prints sizes.
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", units[u]).replacen(".000", "", 1)
    }
}

fn inspect(g: &GlobalOpts, a: InspectArgs) -> Result<()> {
    let s = store(g)?;
    let mut out = Vec::new();
    for q in &a.images {
        let img = s.resolve(q)?;
        out.push(inspect_json(&s, &img)?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn inspect_json(s: &Store, img: &ImageRecord) -> Result<serde_json::Value> {
    let config: serde_json::Value = serde_json::from_slice(&s.read_blob(&img.id)?)
        .with_context(|| format!("parse image config {}", img.id))?;
    let repo_digests: Vec<String> = img
        .names
        .iter()
        .filter_map(|n| Reference::parse(n).ok())
        .map(|r| format!("{}@{}", r.name(), img.manifest_digest))
        .collect();
    Ok(serde_json::json!({
        "Id": img.id,
        "RepoTags": img.names,
        "RepoDigests": repo_digests,
        "Digest": img.manifest_digest,
        "ManifestMediaType": img.manifest_media_type,
        "Created": img.created,
        "Added": img.added,
        "Platform": img.platform,
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Size": img.size,
        "Config": config["config"],
        "RootFS": config["rootfs"],
        "History": config["history"],
        "Layers": img.layers,
        "LayerDirs": s.layer_dirs(img),
    }))
}

fn rmi(g: &GlobalOpts, a: RmiArgs) -> Result<()> {
    let s = store(g)?;
    let mut failed = Vec::new();
    for q in &a.images {
        match s.remove(q, a.force) {
            Ok(r) => {
                for n in r.untagged {
                    println!("Untagged: {n}");
                }
                if let Some(id) = r.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(e) => failed.push(anyhow::Error::new(e).context(format!("remove {q}"))),
        }
    }
    match failed.len() {
        0 => Ok(()),
        1 if a.images.len() == 1 => Err(failed.remove(0)),
        n => {
            for e in &failed {
                eprintln!("rcrun: {e:#}");
            }
            bail!("{n} of {} images not removed", a.images.len())
        }
    }
}

fn prune(g: &GlobalOpts, _a: PruneArgs) -> Result<()> {
    let r = store(g)?.prune()?;
    if !r.images.is_empty() {
        println!("Deleted Images:");
        for i in &r.images {
            println!("deleted: {i}");
        }
    }
    println!(
        "Removed {} blob(s) and {} layer(s). Total reclaimed space: {}",
        r.blobs,
        r.layers,
        human_size(r.blob_bytes)
    );
    Ok(())
}

fn tag(g: &GlobalOpts, a: TagArgs) -> Result<()> {
    let target = Reference::parse(&a.target)?;
    store(g)?.tag(&a.source, &target)?;
    Ok(())
}

fn load(g: &GlobalOpts, a: LoadArgs) -> Result<()> {
    let s = store(g)?;
    let loaded = match &a.input {
        Some(p) if p.is_dir() => archive::load_oci_dir(&s, p),
        Some(p) => archive::load(&s, p),
        None => archive::load_reader(&s, std::io::stdin().lock(), std::path::Path::new("<stdin>")),
    }
    .with_context(|| match &a.input {
        Some(p) => format!("load {}", p.display()),
        None => "load from stdin".to_string(),
    })?;
    if !a.quiet {
        for l in loaded {
            if l.image.names.is_empty() {
                println!("Loaded image ID: {}", l.image.id);
            }
            for n in &l.image.names {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(())
}

fn save(g: &GlobalOpts, a: SaveArgs) -> Result<()> {
    let format: ArchiveFormat = a.format.parse()?;
    let images: Vec<&str> = a.images.iter().map(String::as_str).collect();
    archive::save(&store(g)?, &images, &a.output, format)
        .with_context(|| format!("save to {}", a.output.display()))
}

fn import(g: &GlobalOpts, a: ImportArgs) -> Result<()> {
    let name = a.reference.as_deref().map(Reference::parse).transpose()?;
    let s = store(g)?;
    let mut src: Box<dyn Read> = if a.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&a.file).with_context(|| format!("open {}", a.file))?)
    };
    let img = archive::import(&s, &mut src, &a.file, name.as_ref())
        .with_context(|| format!("import {}", a.file))?;
    println!("{}", img.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(super::human_size(999), "999B");
        assert_eq!(super::human_size(4_260_000), "4.260MB");
        assert_eq!(super::human_size(2_000_000_000), "2GB");
    }

    #[test]
    fn names_split_into_familiar_repo_and_tag() {
        assert_eq!(
            super::split_name("docker.io/library/nginx:1"),
            ("nginx".into(), "1".into())
        );
        assert_eq!(
            super::split_name("127.0.0.1:5000/a/b:latest"),
            ("127.0.0.1:5000/a/b".into(), "latest".into())
        );
    }
}
