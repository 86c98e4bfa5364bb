//! `voxpace serve`.

use crate::Config;

/// Run until SIGINT/SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let _ = config;
    anyhow::bail!("serve is not built yet")
}
