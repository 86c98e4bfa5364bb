//! Loading a plugin library by path, with abi_stable's version and layout checks, and
//! telling apart the ways that fails.

use std::path::{Path, PathBuf};

use voxpace_sink_abi::host::{lib_header_from_path, LibraryError};
use voxpace_sink_abi::{compat, AbiVersion, CreateFn, SinkPluginModRef, ROOT_MODULE_NAME};

use crate::adapter::Object;

use crate::error::HOST_ABI;
use crate::{Error, PluginSink};

/// What a plugin library declares about itself, before any instance exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The plugin's package name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// One line about the plugin.
    pub description: String,
    /// The ABI version the plugin was built against.
    pub abi: AbiVersion,
    /// The configuration keys it accepts (ABI ≥ 1.1; `None` from a 1.0 plugin).
    pub config_help: Option<String>,
}

impl std::fmt::Display for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "name:        {}", self.name)?;
        writeln!(f, "version:     {}", self.version)?;
        writeln!(f, "abi:         {} (host {})", self.abi, HOST_ABI)?;
        if !self.description.is_empty() {
            writeln!(f, "description: {}", self.description)?;
        }
        match &self.config_help {
            None => writeln!(f, "config:      (not described: built against ABI 1.0)"),
            Some(h) if h.trim().is_empty() => writeln!(f, "config:      (takes none)"),
            Some(h) => {
                writeln!(f, "config:")?;
                for line in h.lines() {
                    writeln!(f, "  {line}")?;
                }
                Ok(())
            }
        }
    }
}

/// A loaded plugin library: make sink instances from it with [`Plugin::instantiate`].
///
/// Libraries are never unloaded (abi_stable's rule): loading the same file again is cheap
/// and returns the same module.
#[derive(Clone)]
pub struct Plugin {
    path: PathBuf,
    create: Create,
    metadata: Metadata,
}

/// The plugin's `create`, by the layout its instances have.
#[derive(Clone, Copy)]
enum Create {
    /// ABI 1.0 and 1.1: the frozen 1.1 object and host vtable.
    V1_1(compat::v1_1::CreateFn),
    /// ABI 1.2: the frozen 1.2 object (no errors with a kind).
    V1_2(compat::v1_2::CreateFn),
    /// This host's minor or a newer one.
    Current(CreateFn),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Load the plugin library at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let (create, metadata) = open(&path)?;
        Ok(Self {
            path,
            create,
            metadata,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the library declares.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Make a sink from `config` (text passed through to the plugin; the voxpace runtime
    /// passes the plugin's `config` table as TOML). Fails with [`Error::ConfigRejected`] when
    /// the plugin refuses it.
    pub fn instantiate(&self, config: &str) -> Result<PluginSink, Error> {
        let rejected = |reason: voxpace_sink_abi::host::RString| Error::ConfigRejected {
            path: self.path.clone(),
            reason: reason.into_string(),
        };
        let object = match self.create {
            Create::V1_1(create) => Object::V1_1(
                create(config.into(), HOST_ABI)
                    .into_result()
                    .map_err(rejected)?,
            ),
            Create::V1_2(create) => Object::V1_2(
                create(config.into(), HOST_ABI)
                    .into_result()
                    .map_err(rejected)?,
            ),
            Create::Current(create) => Object::Current(
                create(config.into(), HOST_ABI)
                    .into_result()
                    .map_err(rejected)?,
            ),
        };
        PluginSink::new(self.path.clone(), object, self.metadata.abi)
    }
}

fn open(path: &Path) -> Result<(Create, Metadata), Error> {
    let not_plugin = |reason: String| Error::NotAPlugin {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(not_plugin(format!("cannot be read: {e}"))),
        Ok(m) if m.is_dir() => return Err(not_plugin("it is a directory".into())),
        Ok(_) => {}
    }
    // dlopen searches the library path for a name without a slash: always pass a path.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let header = lib_header_from_path(&absolute).map_err(|e| match e {
        LibraryError::OpenError { err, .. } => {
            not_plugin(format!("it cannot be loaded as a shared library ({err})"))
        }
        LibraryError::GetSymbolError { .. } => not_plugin(
            "it exports no plugin root module (a plugin exports one with \
             `voxpace_sink_abi::export_sink_plugin!`)"
                .into(),
        ),
        LibraryError::InvalidAbiHeader(h) => incompatible(
            path,
            "unknown".into(),
            format!(
                "it was built with an abi_stable release of another ABI ({}.{})",
                h.abi_major, h.abi_minor
            ),
        ),
        other => not_plugin(other.to_string()),
    })?;
    let name = header.root_mod_consts().name();
    if name.as_str() != ROOT_MODULE_NAME {
        return Err(not_plugin(format!(
            "it is an abi_stable library whose root module is `{name}`, not `{ROOT_MODULE_NAME}`"
        )));
    }
    let found = header.version_strings().version.to_string();
    let mut parts = found.split('.').map(|p| p.parse::<u16>().ok());
    let (major, minor) = (parts.next().flatten(), parts.next().flatten());
    if major != Some(HOST_ABI.major) {
        return Err(incompatible(
            path,
            found,
            "the major versions differ".into(),
        ));
    }
    let layout_error = |e: LibraryError| match e {
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => incompatible(
            path,
            actual_version.to_string(),
            "the major versions differ".into(),
        ),
        LibraryError::AbiInstability(detail) => incompatible(
            path,
            found.clone(),
            format!(
                "its types do not match this host's layout: {}",
                first_lines(&detail.to_string(), 6)
            ),
        ),
        other => Error::PluginFailed {
            path: path.to_path_buf(),
            reason: format!("its root module failed to load: {other}"),
        },
    };
    // abi_stable accepts a library whose root module has at least the host's fields. A
    // plugin built against an older minor has fewer, so it is checked against the frozen
    // copy of the root module of its own minor (the versioning rule in the crate docs).
    // Each minor's root module has the same accessors (1.0 has no `config_help`).
    macro_rules! load {
        ($module:ty, $create:path, |$m:ident| $config_help:expr) => {{
            let $m = header.init_root_module::<$module>().map_err(layout_error)?;
            let metadata = Metadata {
                name: $m.name().to_string(),
                version: $m.version().to_string(),
                description: $m.description().to_string(),
                abi: $m.abi_version(),
                config_help: $config_help,
            };
            Ok(($create($m.create()), metadata))
        }};
    }
    match minor {
        Some(0) => load!(compat::v1_0::SinkPluginModRef, Create::V1_1, |m| None),
        Some(1) => load!(compat::v1_1::SinkPluginModRef, Create::V1_1, |m| m
            .config_help()
            .map(|h| h.to_string())),
        Some(2) => load!(compat::v1_2::SinkPluginModRef, Create::V1_2, |m| m
            .config_help()
            .map(|h| h.to_string())),
        // This host's minor or a newer one.
        _ => load!(SinkPluginModRef, Create::Current, |m| m
            .config_help()
            .map(|h| h.to_string())),
    }
}

fn incompatible(path: &Path, found: String, detail: String) -> Error {
    Error::IncompatibleAbi {
        path: path.to_path_buf(),
        found,
        expected_major: HOST_ABI.major,
        detail,
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = lines
        .iter()
        .take(n)
        .copied()
        .collect::<Vec<_>>()
        .join(" / ");
    if lines.len() > n {
        out.push_str(" / …");
    }
    out
}
