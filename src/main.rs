//! The `execdeck` command: parses arguments and hands over to the library.

use clap::Parser;
use execdeck::cli::{Cli, Command, TuiArgs, exec, rsync, serve, status, trace};

fn main() {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Tui(TuiArgs::default()));
    // The server replaces this process (no runtime needed, none left behind).
    let command = match command {
        Command::Serve(args) => std::process::exit(serve::run(args)),
        other => other,
    };
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
        match command {
            Command::Exec(args) => exec::run(args).await,
            Command::Rsync(args) => rsync::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Trace(args) => trace::run(args),
            Command::Serve(args) => serve::run(args),
            Command::Tui(args) => {
                execdeck::tui::run(execdeck::tui::TuiOptions {
                    specs: args.specs,
                    theme: args.theme,
                    trace_file: args.trace_file,
                    replay: args.trace,
                })
                .await
            }
        }
    });
    // Do not wait for lingering tasks: every gateway has been terminated.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
