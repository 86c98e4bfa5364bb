//! `new_plugin`: make a new plugin crate from `plugins/template` (what
//! `cargo xtask new-plugin NAME` runs). The copy builds and passes the check as it is.

use std::path::{Path, PathBuf};

use crate::Error;

/// Copy the template crate at `template` to `plugins_dir/<name>`, renamed: the package
/// becomes `voxpace-plugin-<name>`, the plugin type `<Name>` and its sink name `<name>`.
/// `name` is lowercase ASCII letters, digits and `-`, starting with a letter. Refuses to
/// overwrite an existing directory. Returns the new crate's directory.
pub fn new_plugin(template: &Path, plugins_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let dest = plugins_dir.join(name);
    let fail = |reason: String| Error::Scaffold {
        path: dest.clone(),
        reason,
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(fail(format!(
            "{name:?} is not a valid plugin name (lowercase letters, digits and '-', \
             starting with a letter)"
        )));
    }
    if dest.exists() {
        return Err(fail("already exists".into()));
    }
    let read = |file: &str| {
        std::fs::read_to_string(template.join(file))
            .map_err(|e| fail(format!("cannot read the template's {file}: {e}")))
    };
    let manifest = read("Cargo.toml")?;
    let lib = read("src/lib.rs")?;
    let type_name: String = name
        .split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let manifest = manifest
        .replace(
            "name = \"voxpace-plugin-template\"",
            &format!("name = \"voxpace-plugin-{name}\""),
        )
        .replace(
            "A starting point for a voxpace sink plugin: handles every event, builds and passes the check.",
            &format!("The {name} sink plugin for voxpace."),
        );
    let lib = lib
        .replace("Template", &type_name)
        .replace("\"template\"", &format!("\"{name}\""))
        .replace("\\\"template\\\"", &format!("\\\"{name}\\\""));
    std::fs::create_dir_all(dest.join("src"))
        .map_err(|e| fail(format!("cannot create it: {e}")))?;
    let write = |file: &str, text: &str| {
        std::fs::write(dest.join(file), text).map_err(|e| fail(format!("cannot write {file}: {e}")))
    };
    write("Cargo.toml", &manifest)?;
    write("src/lib.rs", &lib)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/template")
    }

    #[test]
    fn copies_and_renames_the_template() {
        let dir = std::env::temp_dir().join(format!("voxpace-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = new_plugin(&template(), &dir, "lip-cam2").unwrap();
        let manifest = std::fs::read_to_string(made.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"voxpace-plugin-lip-cam2\""));
        assert!(manifest.contains("crate-type = [\"cdylib\", \"rlib\"]"));
        let lib = std::fs::read_to_string(made.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct LipCam2"));
        assert!(lib.contains("export_sink_plugin!(LipCam2);"));
        assert!(lib.contains("\"lip-cam2\""));
        assert!(!lib.contains("Template") && !lib.contains("\"template\""));
        let again = new_plugin(&template(), &dir, "lip-cam2").unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        let bad = new_plugin(&template(), &dir, "Bad Name").unwrap_err();
        assert!(bad.to_string().contains("not a valid plugin name"), "{bad}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
