//! The `execdeck` command: parses arguments and hands over to the library.

use clap::Parser;
use execdeck::cli::{Cli, Command, exec, status, trace};

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("execdeck: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Exec(args) => exec::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Trace(args) => trace::run(args),
        }
    });
    // Do not wait for lingering tasks: every gateway has been terminated.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
