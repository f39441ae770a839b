//! `embed_migrations!` reads `migrations/` when the crate compiles; without
//! this, cargo would not notice a migration added since the last build and
//! the binary would quietly lack it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
