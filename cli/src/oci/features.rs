//! `rcrun-oci features`: the runtime-spec features document.

/// Run `features`.
pub fn run() -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&rcrun_runtime::features::features())?
    );
    Ok(())
}
