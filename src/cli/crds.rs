//! `flinkops crds`: prints the generated CustomResourceDefinitions, or writes them into a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::crd::{Kind, crd_file_name, render_crd_yaml};

/// Arguments of `flinkops crds`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write one file per CRD into this directory (named as upstream names them) instead of printing.
    #[arg(long)]
    output_dir: Option<PathBuf>,
}

pub(super) fn run(args: &Args) -> ExitCode {
    let mut documents = Vec::new();
    for kind in Kind::ALL {
        match render_crd_yaml(kind) {
            Ok(yaml) => documents.push((crd_file_name(kind), yaml)),
            Err(error) => {
                eprintln!("flinkops: cannot render the {kind} CRD: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    match &args.output_dir {
        Some(dir) => {
            if let Err(error) = std::fs::create_dir_all(dir) {
                eprintln!("flinkops: cannot create {}: {error}", dir.display());
                return ExitCode::FAILURE;
            }
            for (name, yaml) in documents {
                let path = dir.join(name);
                if let Err(error) = std::fs::write(&path, yaml) {
                    eprintln!("flinkops: cannot write {}: {error}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("wrote {}", path.display());
            }
        }
        None => {
            let joined: Vec<String> = documents.into_iter().map(|(_, yaml)| yaml).collect();
            print!("{}", joined.join("---\n"));
        }
    }
    ExitCode::SUCCESS
}
