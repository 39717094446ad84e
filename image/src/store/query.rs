//! Listing, resolving, tagging, removing and pruning images.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::index::{move_name, ImageRecord};
use super::Store;
use crate::error::{ImageError, Result};
use crate::reference::Reference;

/// What [`Store::prune`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Ids of dangling (unnamed, unused) images removed.
    pub images: Vec<String>,
    /// Blobs removed.
    pub blobs: usize,
    /// Unpacked layers removed.
    pub layers: usize,
    /// Bytes of blobs freed (unpacked layers not counted).
    pub blob_bytes: u64,
}

/// What [`Store::remove`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemoveReport {
    /// Names taken off the image.
    pub untagged: Vec<String>,
    /// The image id, if the image itself was deleted.
    pub deleted: Option<String>,
}

impl Store {
    /// All images, most recently added first.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let mut images = self.read_index()?.images;
        images.sort_by(|a, b| b.added.cmp(&a.added).then(a.id.cmp(&b.id)));
        Ok(images)
    }

    /// Find an image by full or short name (`busybox` finds
    /// `docker.io/library/busybox:latest`, and `127.0.0.1:5000/busybox:latest`
    /// when that is the only busybox), by `name@digest`, or by a prefix of
    /// its id or manifest digest (`sha256:` optional).
    pub fn resolve(&self, query: &str) -> Result<ImageRecord> {
        let images = self.read_index()?.images;
        resolve_in(&images, query).cloned()
    }

    /// Give image `source` the name `target` (taking it from any other image).
    pub fn tag(&self, source: &str, target: &Reference) -> Result<ImageRecord> {
        let img = self.resolve(source)?;
        let name = target.without_digest();
        if name.tag.is_none() {
            return Err(ImageError::InvalidReference {
                reference: target.to_string(),
                reason: "a tag target needs a tag, not only a digest".into(),
            });
        }
        let name = name.to_string();
        self.update_index(|idx| {
            if !idx
                .images
                .iter()
                .any(|i| i.manifest_digest == img.manifest_digest)
            {
                return Err(ImageError::ImageNotFound {
                    query: source.to_string(),
                });
            }
            move_name(idx, &name, &img.manifest_digest);
            Ok(idx
                .images
                .iter()
                .find(|i| i.manifest_digest == img.manifest_digest)
                .cloned())
        })?
        .ok_or_else(|| ImageError::ImageNotFound {
            query: source.to_string(),
        })
    }

    /// Remove an image as `rmi` does: a name of an image with several names
    /// only loses that name; otherwise the image is deleted, unless a
    /// container uses it (see [`Store::containers_using`]) and `force` is not
    /// set. Forced removal of an image in use takes its names but keeps it
    /// (dangling) so the running containers' layers stay. Blobs and layers no
    /// image needs any more are then collected unless a pull holds a lease
    /// (`image prune` collects them later).
    pub fn remove(&self, query: &str, force: bool) -> Result<RemoveReport> {
        let img = self.resolve(query)?;
        let by_name = name_queried(&img, query);
        let users = self.containers_using(&img);
        let report = self.update_index(|idx| {
            let Some(pos) = idx
                .images
                .iter()
                .position(|i| i.manifest_digest == img.manifest_digest)
            else {
                return Err(ImageError::ImageNotFound {
                    query: query.to_string(),
                });
            };
            let rec = &mut idx.images[pos];
            let mut report = RemoveReport::default();
            if let Some(name) = &by_name {
                if rec.names.len() > 1 {
                    rec.names.retain(|n| n != name);
                    report.untagged.push(name.clone());
                    return Ok(report);
                }
            } else if rec.names.len() > 1 && !force {
                return Err(ImageError::AmbiguousImage {
                    query: query.to_string(),
                    candidates: format!(
                        "{} (it has several names: remove them one by one, or use -f)",
                        rec.names.join(", ")
                    ),
                });
            }
            if !users.is_empty() && !force {
                return Err(ImageError::ImageInUse {
                    image: rec.id.clone(),
                    containers: users.join(", "),
                });
            }
            report.untagged = std::mem::take(&mut rec.names);
            if users.is_empty() {
                report.deleted = Some(rec.id.clone());
                idx.images.remove(pos);
            }
            Ok(report)
        })?;
        if report.deleted.is_some() {
            self.collect_if_idle()?;
        }
        Ok(report)
    }

    /// Collect blobs and layers no image references, unless a pull, load or
    /// prune is running (then they are left for `image prune`). Returns
    /// whether it ran. Call it without holding a [`super::Lease`].
    pub fn collect_if_idle(&self) -> Result<bool> {
        let gc = self.lock_file("gc.lock")?;
        if gc.try_lock().is_err() {
            return Ok(false);
        }
        self.collect_unreferenced()?;
        Ok(true)
    }

    /// Remove dangling images no container uses, then every blob and
    /// unpacked layer no image references, and stale temp files. Waits for
    /// pulls in progress (their leases) to finish.
    pub fn prune(&self) -> Result<PruneReport> {
        let gc = self.lock_file("gc.lock")?;
        gc.lock()
            .map_err(|e| ImageError::io("lock", self.root.join("locks/gc.lock"), e))?;
        let in_use: HashSet<String> = self
            .list()?
            .iter()
            .filter(|i| i.names.is_empty() && !self.containers_using(i).is_empty())
            .map(|i| i.manifest_digest.clone())
            .collect();
        let removed = self.update_index(|idx| {
            let mut removed = Vec::new();
            idx.images.retain(|i| {
                let drop = i.names.is_empty() && !in_use.contains(&i.manifest_digest);
                if drop {
                    removed.push(i.id.clone());
                }
                !drop
            });
            Ok(removed)
        })?;
        let mut report = self.collect_unreferenced()?;
        report.images = removed;
        Ok(report)
    }

    /// Delete blobs and layers no image references; caller holds the gc lock.
    fn collect_unreferenced(&self) -> Result<PruneReport> {
        let images = self.read_index()?.images;
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for i in &images {
            blobs.insert(hex(&i.manifest_digest));
            blobs.insert(hex(&i.id));
            for l in &i.layers {
                blobs.insert(hex(&l.digest));
                layers.insert(hex(&l.chain_id));
            }
        }
        let mut report = PruneReport::default();
        let blob_dir = self.root.join("blobs/sha256");
        for (name, path) in dir_entries(&blob_dir)? {
            if !blobs.contains(name.as_str()) {
                let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
                fs::remove_file(&path).map_err(|e| ImageError::io("remove blob", &path, e))?;
                report.blobs += 1;
                report.blob_bytes += size;
            }
        }
        let layer_dir = self.root.join("layers");
        for (name, path) in dir_entries(&layer_dir)? {
            if !layers.contains(name.as_str()) {
                fs::remove_dir_all(&path).map_err(|e| ImageError::io("remove layer", &path, e))?;
                if !name.starts_with(".tmp-") {
                    report.layers += 1;
                }
            }
        }
        // Lock files of blobs and layers that are gone. Safe while we hold
        // the gc lock: whoever takes a blob or layer lock holds a lease.
        for (name, path) in dir_entries(&self.root.join("locks"))? {
            let gone = if let Some(hex) = lock_hex(&name, "blob-") {
                !blob_dir.join(hex).exists()
            } else if let Some(hex) = lock_hex(&name, "layer-") {
                !layer_dir.join(hex).exists()
            } else {
                false
            };
            if gone {
                let _ = fs::remove_file(&path);
            }
        }
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for (_, path) in dir_entries(&self.tmp_dir())? {
            let old = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .map(|t| t < hour_ago)
                .unwrap_or(false);
            if old {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(report)
    }
}

/// `<hex>` of a `<prefix><hex>.lock` file name.
fn lock_hex<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)?.strip_suffix(".lock")
}

fn hex(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).to_string()
}

fn dir_entries(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let rd = fs::read_dir(dir).map_err(|e| ImageError::io("read directory", dir, e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| ImageError::io("read directory", dir, e))?;
        out.push((ent.file_name().to_string_lossy().into_owned(), ent.path()));
    }
    Ok(out)
}

/// The name of `img` that `query` (full or short) names, if it names one
/// rather than the image's id or digest.
pub fn name_queried(img: &ImageRecord, query: &str) -> Option<String> {
    if query.contains('@') {
        let wanted = Reference::parse(query).ok()?.store_name();
        return img.names.iter().find(|n| **n == wanted).cloned();
    }
    img.names.iter().find_map(|n| {
        let only = ImageRecord {
            names: vec![n.clone()],
            ..img.clone()
        };
        let by_id = query.strip_prefix("sha256:").unwrap_or(query);
        let looks_like_id = by_id.len() >= 3
            && by_id.bytes().all(|b| b.is_ascii_hexdigit())
            && (hex(&img.id).starts_with(by_id) || hex(&img.manifest_digest).starts_with(by_id));
        let hit = !looks_like_id && resolve_in(std::slice::from_ref(&only), query).is_ok();
        hit.then(|| n.clone())
    })
}

/// The resolution rules of [`Store::resolve`] over a list of images.
pub(crate) fn resolve_in<'a>(images: &'a [ImageRecord], query: &str) -> Result<&'a ImageRecord> {
    let not_found = || ImageError::ImageNotFound {
        query: query.to_string(),
    };
    let parsed = Reference::parse(query).ok();
    if let Some(r) = &parsed {
        if let Some(d) = &r.digest {
            let name = r.name();
            let hit = images.iter().find(|i| {
                i.manifest_digest == *d
                    && (i.names.is_empty()
                        || i.names.iter().any(|n| {
                            n.strip_prefix(name.as_str())
                                .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
                        }))
            });
            return hit.ok_or_else(not_found);
        }
        let full = r.to_string();
        if let Some(i) = images.iter().find(|i| i.names.contains(&full)) {
            return Ok(i);
        }
    }
    // Id or manifest digest prefix.
    let prefix = query.strip_prefix("sha256:").unwrap_or(query);
    if prefix.len() >= 3 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<&ImageRecord> = images
            .iter()
            .filter(|i| {
                hex(&i.id).starts_with(prefix) || hex(&i.manifest_digest).starts_with(prefix)
            })
            .collect();
        match hits.as_slice() {
            [one] => return Ok(one),
            [] => {}
            many => {
                return Err(ImageError::AmbiguousImage {
                    query: query.to_string(),
                    candidates: many
                        .iter()
                        .map(|i| i.short_id().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
    // Short name: `busybox[:tag]` or `a/b[:tag]` typed without a registry
    // matches any registry's repository ending in that path.
    let Some(r) = parsed else {
        return Err(not_found());
    };
    let typed_registry = query.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    });
    if typed_registry {
        return Err(not_found());
    }
    let typed_repo = r
        .repository
        .strip_prefix("library/")
        .unwrap_or(&r.repository);
    let tag = r.tag.clone().unwrap_or_default();
    let mut hits: Vec<(&ImageRecord, &String)> = Vec::new();
    for i in images {
        for n in &i.names {
            let Ok(nr) = Reference::parse(n) else {
                continue;
            };
            let repo_matches =
                nr.repository == typed_repo || nr.repository.ends_with(&format!("/{typed_repo}"));
            if repo_matches && nr.tag.as_deref() == Some(tag.as_str()) {
                hits.push((i, n));
            }
        }
    }
    hits.dedup_by(|a, b| a.0.manifest_digest == b.0.manifest_digest);
    match hits.as_slice() {
        [(one, _)] => Ok(one),
        [] => Err(not_found()),
        many => Err(ImageError::AmbiguousImage {
            query: query.to_string(),
            candidates: many
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id: char, names: &[&str]) -> ImageRecord {
        ImageRecord {
            id: format!("sha256:{}", id.to_string().repeat(64)),
            manifest_digest: format!("sha256:{}", "0".repeat(63) + &id.to_string()),
            manifest_media_type: String::new(),
            names: names.iter().map(|s| s.to_string()).collect(),
            layers: vec![],
            size: 0,
            created: None,
            added: String::new(),
            platform: "linux/amd64".into(),
        }
    }

    #[test]
    fn resolve_by_digest_reference_checks_the_repository() {
        let images = vec![img('a', &["docker.io/library/busybox:latest"])];
        let d = images[0].manifest_digest.clone();
        assert_eq!(
            resolve_in(&images, &format!("busybox@{d}")).unwrap().id,
            images[0].id
        );
        assert!(resolve_in(&images, &format!("busybox2@{d}")).is_err());
        let pinned = vec![img(
            'b',
            &[&format!(
                "docker.io/library/nginx@{}",
                "sha256:".to_string() + &"0".repeat(63) + "b"
            )],
        )];
        let d = pinned[0].manifest_digest.clone();
        assert_eq!(
            resolve_in(&pinned, &format!("nginx@{d}")).unwrap().id,
            pinned[0].id
        );
    }

    #[test]
    fn name_queried_finds_the_name_a_short_name_means() {
        let i = img('c', &["localhost/nginx:1", "127.0.0.1:5000/other:2"]);
        assert_eq!(
            name_queried(&i, "other:2").as_deref(),
            Some("127.0.0.1:5000/other:2")
        );
        assert_eq!(
            name_queried(&i, "localhost/nginx:1").as_deref(),
            Some("localhost/nginx:1")
        );
        assert_eq!(name_queried(&i, "cccccc"), None);
    }

    #[test]
    fn resolve_by_name_short_name_and_id() {
        let images = vec![
            img('a', &["docker.io/library/busybox:latest"]),
            img('b', &["127.0.0.1:5000/tools/nginx:1"]),
            img('c', &["localhost/nginx:1", "127.0.0.1:5000/other:2"]),
        ];
        assert_eq!(resolve_in(&images, "busybox").unwrap().id, images[0].id);
        assert_eq!(
            resolve_in(&images, "docker.io/library/busybox").unwrap().id,
            images[0].id
        );
        assert_eq!(resolve_in(&images, "bbb").unwrap().id, images[1].id);
        assert_eq!(
            resolve_in(&images, &format!("sha256:{}", "c".repeat(10)))
                .unwrap()
                .id,
            images[2].id
        );
        assert_eq!(resolve_in(&images, "other:2").unwrap().id, images[2].id);
        assert_eq!(
            resolve_in(&images, "tools/nginx:1").unwrap().id,
            images[1].id
        );
        // Two images end in nginx:1: ambiguous, and the message lists both.
        let err = resolve_in(&images, "nginx:1").unwrap_err();
        assert!(err.to_string().contains("localhost/nginx:1"), "{err}");
        assert!(matches!(
            resolve_in(&images, "nginx"),
            Err(ImageError::ImageNotFound { .. })
        ));
        // An explicit registry never falls back to short-name matching.
        assert!(resolve_in(&images, "quay.io/busybox").is_err());
    }
}
