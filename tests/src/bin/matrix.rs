//! The integration matrix's command line; `cargo xtask matrix` runs it (release build) after
//! building the plugins. See [`voxpace_tests::matrix`].

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    voxpace_tests::matrix::run_matrix(&args)
}
