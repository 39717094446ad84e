//! `rcrun-oci list`: runc's table (ID PID STATUS BUNDLE CREATED OWNER),
//! `--format json`, or `-q` for ids only.

use clap::ValueEnum;
use rcrun_runtime::OciState;

use super::GlobalOpts;

/// Output format of `list` and `ps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON.
    Json,
}

/// `list` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print only container ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Run `list`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    let states = rcrun_runtime::list::list(&super::store(g)?)?;
    if a.quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&states)?),
        Format::Table => print!("{}", table(&states)),
    }
    Ok(())
}

/// runc's `list` table: columns padded to max(12, width + 3), like Go's
/// tabwriter with minwidth 12 and padding 3; the last column unpadded.
pub fn table(states: &[OciState]) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "ID".into(),
        "PID".into(),
        "STATUS".into(),
        "BUNDLE".into(),
        "CREATED".into(),
        "OWNER".into(),
    ]];
    for s in states {
        rows.push([
            s.id.clone(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i == 5 {
                out.push_str(c);
            } else {
                let w = (widths[i] + 3).max(12);
                out.push_str(&format!("{c:<w$}"));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_the_header() {
        assert_eq!(
            table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
