//! The main job: the end-to-end demo. It grows with each crate that lands.

fn main() -> anyhow::Result<()> {
    println!("stella demo: workspace ready");
    Ok(())
}
