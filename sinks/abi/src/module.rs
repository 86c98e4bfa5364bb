//! The root module every plugin exports and the object a plugin instance is behind.

use abi_stable::library::RootModule;
use abi_stable::sabi_trait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RStr, RString};
use abi_stable::{declare_root_module_statics, package_version_strings, StableAbi};

use crate::error::{ErrorKind, RawError};
use crate::types::{AbiVersion, RawEvent, RawHost, RawInfo};

/// The name abi_stable knows the root module by; a library whose root module has another
/// name is not a voxpace sink plugin.
pub const ROOT_MODULE_NAME: &str = "voxpace_sink_plugin";

/// A plugin instance as the host sees it. Every method returns instead of unwinding: the
/// export macro catches panics inside the plugin, where they happen.
#[sabi_trait]
pub trait SinkObject: Send {
    /// What the instance declares (name, ownership of playback, delivery, queue).
    fn info(&self) -> RResult<RawInfo, RString>;

    /// Handle one event. `Err` (including a caught panic) makes the host detach the sink.
    /// A host of ABI 1.3 or later calls [`SinkObject::handle_event`] instead.
    #[sabi(last_prefix_field)]
    fn handle(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RString>;

    /// ABI 1.3: handle one event; an error says by its [`ErrorKind`] what the host does
    /// (retry, skip the reply, skip the event, detach). Appended after `handle`, so a
    /// plugin built against 1.2 lacks it: the host calls it only on plugins of 1.3 or
    /// later (and the default below, `handle` with every error fatal, is what the object
    /// answers when the method is missing).
    fn handle_event(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RawError> {
        self.handle(event, host).map_err(|message| RawError {
            kind: ErrorKind::Fatal,
            message,
        })
    }
}

/// An owned plugin instance; dropping it runs the plugin's destructor (panics caught).
pub type SinkBox = SinkObject_TO<'static, RBox<()>>;

/// Creates an instance from the plugin's configuration text (passed through from the host's
/// configuration file) and the host's ABI version; `Err` means the configuration was
/// rejected, with the plugin's reason.
pub type CreateFn =
    extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>;

/// The root module: what a plugin library exports (through [`crate::export_sink_plugin!`]).
///
/// A prefix type: fields after the `last_prefix_field` were appended in minor versions and
/// read as `None` from a plugin built against an older minor.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = SinkPluginModRef)))]
#[sabi(missing_field(option))]
pub struct SinkPluginMod {
    /// The ABI version the plugin was built against.
    pub abi_version: AbiVersion,
    /// The plugin's package name.
    pub name: RStr<'static>,
    /// The plugin's own version.
    pub version: RStr<'static>,
    /// One line about the plugin.
    pub description: RStr<'static>,
    /// Make an instance (ABI 1.0).
    #[sabi(last_prefix_field)]
    pub create: extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>,
    /// ABI 1.1: the configuration keys the plugin accepts, as text for `plugin check`.
    pub config_help: RStr<'static>,
}

impl RootModule for SinkPluginModRef {
    declare_root_module_statics! {SinkPluginModRef}
    const BASE_NAME: &'static str = ROOT_MODULE_NAME;
    const NAME: &'static str = ROOT_MODULE_NAME;
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

impl std::fmt::Debug for SinkPluginMod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkPluginMod")
            .field("abi_version", &self.abi_version)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
