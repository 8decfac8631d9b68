fn main() -> anyhow::Result<()> {
    apiserver_standin::cli::main()
}
