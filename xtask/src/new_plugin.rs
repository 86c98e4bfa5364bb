//! `cargo xtask new-plugin NAME`: a new sink plugin in `plugins/NAME`, copied from
//! `plugins/template` with the names substituted, then built and run through the plugin
//! check, so what it leaves behind is known to work.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::system::{cargo, plugin_library, root, run, target_dir};

const HELP: &str = "\
cargo xtask new-plugin NAME [--no-check]

Creates plugins/NAME (package voxpace-plugin-NAME) from plugins/template, builds it and
runs the plugin check on it (`--no-check` skips both). NAME: lowercase letters, digits
and dashes, starting with a letter (e.g. `transcript-log`).
";

/// Names the template imports or declares: a plugin type with one of them would clash.
const TAKEN: &[&str] = &["Event", "Host", "Info", "SinkPlugin", "StreamFormat"];

/// The names a plugin called `name` gets.
#[derive(Debug, PartialEq, Eq)]
pub struct Names {
    /// `transcript-log`: the directory and the sink's default name.
    pub name: String,
    /// `voxpace-plugin-transcript-log`.
    pub package: String,
    /// `TranscriptLog`: the plugin type.
    pub type_name: String,
}

impl Names {
    pub fn new(name: &str) -> Result<Self> {
        let valid = name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && !name.contains("--")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            bail!(
                "plugin name {name:?} is not valid: use lowercase letters, digits and single \
                 dashes, starting with a letter, at most 40 characters (e.g. `transcript-log`)"
            );
        }
        let type_name: String = name
            .split('-')
            .map(|part| {
                let mut c = part.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        if TAKEN.contains(&type_name.as_str()) || name == "template" {
            bail!("plugin name {name:?} clashes with a name the template uses; pick another");
        }
        Ok(Self {
            package: format!("voxpace-plugin-{name}"),
            name: name.to_string(),
            type_name,
        })
    }

    /// The template's text with this plugin's names.
    fn substitute(&self, text: &str) -> String {
        text.lines()
            .map(|line| {
                if line.starts_with("description = ") {
                    return format!(
                        "description = \"The {} sink plugin for voxpace (scaffolded from plugins/template).\"",
                        self.name
                    );
                }
                line.replace("voxpace-plugin-template", &self.package)
                    .replace("voxpace_plugin_template", &self.package.replace('-', "_"))
                    .replace("Template", &self.type_name)
                    .replace("template", &self.name)
            })
            .collect::<Vec<_>>()
            .join("\n")
            + if text.ends_with('\n') { "\n" } else { "" }
    }
}

/// Copy `template` to `plugins/<name>` with the names substituted; returns the new directory.
pub fn scaffold(template: &Path, plugins: &Path, names: &Names) -> Result<PathBuf> {
    let dest = plugins.join(&names.name);
    if dest.exists() {
        bail!(
            "{} already exists; pick another name or remove it",
            dest.display()
        );
    }
    if !template.join("Cargo.toml").is_file() {
        bail!("{}: the template plugin is missing", template.display());
    }
    copy_tree(template, &dest, names).inspect_err(|_| {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_dir_all(&dest);
    })?;
    Ok(dest)
}

fn copy_tree(from: &Path, to: &Path, names: &Names) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("{}: cannot create", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("{}", from.display()))? {
        let entry = entry?;
        let path = entry.path();
        let file_name = entry.file_name();
        if file_name == "target" {
            continue;
        }
        let dest = to.join(&file_name);
        if entry.file_type()?.is_dir() {
            copy_tree(&path, &dest, names)?;
        } else {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            std::fs::write(&dest, names.substitute(&text))
                .with_context(|| format!("{}: cannot write", dest.display()))?;
        }
    }
    Ok(())
}

/// What the plugin check said: whether the plugin passed, and its report.
pub struct Checked {
    pub passed: bool,
    pub report: String,
}

/// Build `package` in the workspace of `manifest` and run the plugin check on it (the
/// `voxpace-plugin-check` binary, with an empty configuration: the template's settings are
/// all optional).
pub fn build_and_check(manifest: &Path, package: &str) -> Result<Checked> {
    let mut build = cargo();
    build
        .args(["build", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir())
        .args(["-p", package]);
    run(build, &format!("cargo build -p {package}"))?;
    let mut check = cargo();
    check
        .args([
            "run",
            "-q",
            "-p",
            "voxpace-sinks",
            "--bin",
            "voxpace-plugin-check",
            "--",
        ])
        .arg(plugin_library(package));
    eprintln!("xtask: voxpace-plugin-check {package}");
    let out = check
        .output()
        .context("could not start cargo run --bin voxpace-plugin-check")?;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) | Some(1) => Ok(Checked {
            passed: out.status.success(),
            report,
        }),
        _ => bail!(
            "the plugin check did not run ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

pub fn run_new_plugin(args: &[String]) -> Result<()> {
    let mut name = None;
    let mut check = true;
    for a in args {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--no-check" => check = false,
            _ if name.is_none() && !a.starts_with('-') => name = Some(a.clone()),
            other => bail!("new-plugin: unexpected argument `{other}`\n\n{HELP}"),
        }
    }
    let Some(name) = name else {
        bail!("new-plugin: NAME is missing\n\n{HELP}");
    };
    let names = Names::new(&name)?;
    let root = root();
    let dest = scaffold(
        &root.join("plugins/template"),
        &root.join("plugins"),
        &names,
    )?;
    println!("created {} (package {})", dest.display(), names.package);
    if check {
        let checked = build_and_check(&root.join("Cargo.toml"), &names.package)?;
        print!("{}", checked.report);
        if !checked.passed {
            bail!("the new plugin does not pass the check (see above)");
        }
    }
    println!(
        "next: edit {}/src/lib.rs, then `cargo build -p {}` and \
         `cargo run -p voxpace-sinks --bin voxpace-plugin-check -- {}`",
        dest.display(),
        names.package,
        plugin_library(&names.package).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_derived_and_bad_names_rejected() {
        let n = Names::new("transcript-log2").unwrap();
        assert_eq!(n.package, "voxpace-plugin-transcript-log2");
        assert_eq!(n.type_name, "TranscriptLog2");
        for bad in [
            "", "Caps", "1x", "a_b", "trail-", "dou--ble", "host", "template", "a b",
        ] {
            assert!(Names::new(bad).is_err(), "{bad:?} accepted");
        }
        let long = "a".repeat(41);
        assert!(Names::new(&long).is_err());
    }

    #[test]
    fn substitution_renames_the_package_the_type_and_the_default_name() {
        let n = Names::new("my-sink").unwrap();
        let text = "name = \"voxpace-plugin-template\"\ndescription = \"x\"\n\
                    pub struct Template;\nlet name = \"template\";\n";
        assert_eq!(
            n.substitute(text),
            "name = \"voxpace-plugin-my-sink\"\ndescription = \"The my-sink sink plugin for \
             voxpace (scaffolded from plugins/template).\"\npub struct MySink;\n\
             let name = \"my-sink\";\n"
        );
    }

    #[test]
    fn scaffolding_refuses_an_existing_directory() {
        let tmp = std::env::temp_dir().join(format!("xtask-np-exists-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("dup")).unwrap();
        let err = scaffold(
            &root().join("plugins/template"),
            &tmp,
            &Names::new("dup").unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let _ = std::fs::remove_dir_all(&tmp);
    }

    /// Out of the box: scaffold into a scratch workspace next to the real one (so the real
    /// `plugins/` is untouched), build it as a cdylib and load it through the plugin check.
    #[test]
    fn a_scaffolded_plugin_builds_and_passes_the_plugin_check() {
        let root = root();
        let ws = std::env::temp_dir().join(format!("xtask-new-plugin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&ws);
        std::fs::create_dir_all(ws.join("plugins")).unwrap();
        // The real workspace's shared tables (package fields, dependencies, lints), with
        // absolute paths, under a `[workspace]` whose only members are the plugins.
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let shared = &manifest[manifest.find("\n[workspace.").expect("workspace tables")..];
        let manifest = format!(
            "[workspace]\nresolver = \"2\"\nmembers = [\"plugins/*\"]\n{}",
            shared.replace("path = \"", &format!("path = \"{}/", root.display()))
        );
        std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(root.join("Cargo.lock"), ws.join("Cargo.lock")).unwrap();
        let names = Names::new("scaffold-probe").unwrap();
        let dest = scaffold(&root.join("plugins/template"), &ws.join("plugins"), &names).unwrap();
        let lib = std::fs::read_to_string(dest.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct ScaffoldProbe"));
        assert!(!lib.contains("Template"));
        let checked = build_and_check(&ws.join("Cargo.toml"), &names.package).unwrap();
        let report = &checked.report;
        assert!(checked.passed, "{report}");
        assert!(
            report.contains("sink name:   scaffold-probe"),
            "instantiated: {report}"
        );
        let audio: u64 = report
            .lines()
            .find_map(|l| {
                l.strip_prefix("audio:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .expect("an audio line");
        assert!(audio > 0, "{report}");
        let _ = std::fs::remove_dir_all(&ws);
    }
}
