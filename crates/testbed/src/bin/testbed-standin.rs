//! The apiserver stand-in (same CLI as `apiserver-standin`), built as part of the testbed so
//! scenario tests can locate it with `CARGO_BIN_EXE_testbed-standin`.
fn main() -> anyhow::Result<()> {
    apiserver_standin::cli::main()
}
