//! Frozen copies of earlier minor versions of the root module, exactly as they were
//! released. They exist so the workspace can build a plugin "against an older minor" and
//! prove that the current host still loads it (`plugins/abi-previous-minor`). Plugin
//! authors never need them.

/// ABI 1.0: the root module before `config_help` was appended.
pub mod v1_0 {
    use abi_stable::library::RootModule;
    use abi_stable::sabi_types::VersionStrings;
    use abi_stable::std_types::{RResult, RStr, RString};
    use abi_stable::{declare_root_module_statics, StableAbi};

    use crate::module::{SinkBox, ROOT_MODULE_NAME};
    use crate::types::AbiVersion;

    /// The ABI version this copy describes.
    pub const ABI_VERSION: AbiVersion = AbiVersion { major: 1, minor: 0 };

    /// The 1.0 root module (same name, same fields up to `create`).
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = SinkPluginModRef)))]
    #[sabi(missing_field(option))]
    pub struct SinkPluginMod {
        /// See [`crate::SinkPluginMod::abi_version`].
        pub abi_version: AbiVersion,
        /// See [`crate::SinkPluginMod::name`].
        pub name: RStr<'static>,
        /// See [`crate::SinkPluginMod::version`].
        pub version: RStr<'static>,
        /// See [`crate::SinkPluginMod::description`].
        pub description: RStr<'static>,
        /// See [`crate::SinkPluginMod::create`].
        #[sabi(last_prefix_field)]
        pub create:
            extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>,
    }

    impl RootModule for SinkPluginModRef {
        declare_root_module_statics! {SinkPluginModRef}
        const BASE_NAME: &'static str = ROOT_MODULE_NAME;
        const NAME: &'static str = ROOT_MODULE_NAME;
        const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
    }

    impl std::fmt::Debug for SinkPluginMod {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SinkPluginMod")
                .field("abi_version", &self.abi_version)
                .field("name", &self.name)
                .finish_non_exhaustive()
        }
    }

    /// Export `$plugin` with the 1.0 root module (what `export_sink_plugin!` did in 1.0).
    #[macro_export]
    #[doc(hidden)]
    macro_rules! export_sink_plugin_v1_0 {
        ($plugin:ty) => {
            $crate::__export_root_module!($crate::compat::v1_0::SinkPluginModRef, || {
                use $crate::__private::PrefixTypeTrait as _;
                $crate::compat::v1_0::SinkPluginMod {
                    abi_version: $crate::compat::v1_0::ABI_VERSION,
                    name: $crate::__private::RStr::from_str(env!("CARGO_PKG_NAME")),
                    version: $crate::__private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                    description: $crate::__private::RStr::from_str(env!("CARGO_PKG_DESCRIPTION")),
                    create: $crate::__private::create::<$plugin>,
                }
                .leak_into_prefix()
            });
        };
    }
}
