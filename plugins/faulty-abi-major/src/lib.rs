//! Test fixture: what a plugin built against a hypothetical voxpace-sink-abi 2.0 looks like
//! to a 1.x host: the same root module name, a version string of 2.0.0 and a `create`
//! function with another signature. The host must refuse it with "incompatible ABI"
//! (never call it: calling through a changed signature is undefined behaviour).

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RStr, RString};
use abi_stable::{declare_root_module_statics, export_root_module, StableAbi};

/// The "2.0" root module.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = SinkPluginModRef)))]
pub struct SinkPluginMod {
    /// Major 2 changed `create` to take the sample rate up front and return a handle.
    #[sabi(last_prefix_field)]
    pub create: extern "C" fn(config: RStr<'_>, sample_rate: u32) -> RResult<u64, RString>,
}

impl std::fmt::Debug for SinkPluginMod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkPluginMod").finish_non_exhaustive()
    }
}

impl RootModule for SinkPluginModRef {
    declare_root_module_statics! {SinkPluginModRef}
    const BASE_NAME: &'static str = "voxpace_sink_plugin";
    const NAME: &'static str = "voxpace_sink_plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("2.0.0");
}

extern "C" fn create(_config: RStr<'_>, _sample_rate: u32) -> RResult<u64, RString> {
    RResult::RErr("a 1.x host must never call this".into())
}

/// The exported root module.
#[export_root_module]
pub fn root_module() -> SinkPluginModRef {
    SinkPluginMod { create }.leak_into_prefix()
}
