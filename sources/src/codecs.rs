//! The decoders symphonia may use: its own (MP3, FLAC, Vorbis, AAC, PCM) and, with the
//! `opus` feature, libopus for Ogg/Opus (symphonia 0.6 demuxes Opus but cannot decode it).

use std::sync::OnceLock;

use symphonia::core::codecs::registry::CodecRegistry;

/// The registry every decoder in this crate is made from.
pub(crate) fn registry() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        #[cfg(feature = "opus")]
        registry.register_audio_decoder::<crate::opus::OpusDecoder>();
        registry
    })
}

/// Whether this build decodes Opus (the `opus` feature).
pub const OPUS: bool = cfg!(feature = "opus");

/// What to say about a codec this build cannot decode, beyond its name.
pub(crate) fn missing_hint(id: symphonia::core::codecs::audio::AudioCodecId) -> &'static str {
    if id == symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS && !OPUS {
        " (this build has no Opus decoder: build voxpace with the `opus` feature, e.g. `cargo build -p voxpace-runtime --features opus`; it needs libopus, `apt-get install libopus-dev`)"
    } else {
        ""
    }
}
