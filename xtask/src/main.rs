//! The workspace's automation (placeholder until the xtask issue lands).
fn main() -> anyhow::Result<()> {
    Ok(())
}
