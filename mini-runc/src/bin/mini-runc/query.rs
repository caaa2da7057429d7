//! `state` and `list` (runc-state(8), runc-list(8)).

use std::path::Path;

use clap::Args;

use crate::Failure;
use crate::record::Record;

/// `state ID`: the OCI state JSON, indented as runc prints it.
pub fn state(root: &Path, id: &str) -> Result<(), Failure> {
    let record = Record::open(root, id)?;
    let text = serde_json::to_string_pretty(&record.oci_state()).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// table or json
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// IDs only
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn list(root: &Path, args: &ListArgs) -> Result<(), Failure> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    let states: Vec<serde_json::Value> =
        ids.iter().filter_map(|id| Record::open(root, id).ok()).map(|r| r.oci_state()).collect();
    if args.quiet {
        for s in &states {
            println!("{}", s["id"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => println!("{}", serde_json::Value::Array(states)),
        "table" => {
            println!(
                "{:<12}{:<10}{:<10}{:<40}{:<32}OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in &states {
                let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                println!(
                    "{:<12}{:<10}{:<10}{:<40}{:<32}root",
                    text("id"),
                    s["pid"].to_string(),
                    text("status"),
                    text("bundle"),
                    text("created")
                );
            }
        }
        other => return Err(format!("invalid format {other:?}: use table or json")),
    }
    Ok(())
}
