//! The plain tokio echo server: the ceiling the `echo` benchmark compares ferrosock's servers
//! with. Nothing but tokio, written the way its own examples write it.
//!
//! ```text
//! cargo run --release --example tokio_echo -- [--addr 127.0.0.1:0] [--workers N]
//!     [--current-thread] [--buffer BYTES] [--udp]
//! ```
//!
//! `--current-thread` runs everything on one current-thread runtime (no work-stealing pool);
//! `--buffer` sizes each connection's read buffer (default 64 KiB, allocated at accept, the
//! way tokio's own echo example does).
//!
//! Prints `listening on HOST:PORT` once bound, then serves until killed: SIGTERM and SIGINT
//! keep their default action, which ends the process.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Largest UDP payload that fits one IPv4 datagram.
const MAX_DATAGRAM: usize = 65_507;

struct Args {
    addr: SocketAddr,
    workers: usize,
    current_thread: bool,
    buffer: usize,
    udp: bool,
}

const USAGE: &str =
    "usage: tokio_echo [--addr HOST:PORT] [--workers N] [--current-thread] [--buffer BYTES] [--udp]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: ([127, 0, 0, 1], 0).into(),
        workers: 1,
        current_thread: false,
        buffer: 64 * 1024,
        udp: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let text = value()?;
                args.addr = text.parse().map_err(|e| format!("--addr {text}: {e}"))?;
            }
            "--workers" => {
                let text = value()?;
                args.workers = match text.parse() {
                    Ok(n @ 1..) => n,
                    _ => return Err(format!("--workers {text}: expected a positive integer")),
                };
            }
            "--buffer" => {
                let text = value()?;
                args.buffer = match text.parse() {
                    Ok(n @ 1..) => n,
                    _ => return Err(format!("--buffer {text}: expected a positive integer")),
                };
            }
            "--current-thread" => args.current_thread = true,
            "--udp" => args.udp = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut builder = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(args.workers);
        builder
    };
    let served = builder.enable_all().build().and_then(|runtime| {
        runtime.block_on(async {
            if args.udp {
                serve_udp(args.addr).await
            } else {
                serve_tcp(args.addr, args.buffer).await
            }
        })
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tokio_echo: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark reads this line to learn the port, so it must not sit in a buffer.
fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

async fn serve_tcp(addr: SocketAddr, buffer: usize) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    announce(listener.local_addr()?)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream, buffer));
            }
            // Out of descriptors or an aborted handshake: the listener itself is still fine.
            Err(err) => eprintln!("tokio_echo: accept: {err}"),
        }
    }
}

async fn echo(mut stream: TcpStream, buffer: usize) {
    // Same as the load generator's side: a small reply must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; buffer];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve_udp(addr: SocketAddr) -> io::Result<()> {
    let socket = UdpSocket::bind(addr).await?;
    announce(socket.local_addr()?)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        // A peer that went away (ICMP unreachable surfacing here) ends nothing but its datagram.
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let _ = socket.send_to(&buf[..n], peer).await;
    }
}
