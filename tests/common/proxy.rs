//! A TCP proxy on loopback in front of a real server, for partitions: it
//! forwards bytes both ways until told to cut (every connection closed, new
//! ones closed at once: the server is unreachable) or to hold (connections
//! stay open but no byte moves: a silent partition), then to heal.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// What the proxy does with traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow both ways.
    Pass,
    /// Every connection is closed, new ones are closed on accept.
    Cut,
    /// Connections stay open, bytes are held until the link passes again.
    Hold,
}

/// The proxy, on its own thread and runtime; stopped when dropped.
pub struct TcpProxy {
    pub port: u16,
    link: watch::Sender<Link>,
    stop: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpProxy {
    /// A proxy on a free loopback port that forwards to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let (link, link_rx) = watch::channel(Link::Pass);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let target: SocketAddr = ([127, 0, 0, 1], target).into();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        if *link_rx.borrow() == Link::Cut {
                            drop(client);
                            continue;
                        }
                        tokio::spawn(pump(client, target, link_rx.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
        });
        Self {
            port,
            link,
            stop: Arc::new(Mutex::new(Some(stop_tx))),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Forwards one connection until either side closes or the link is cut.
async fn pump(client: TcpStream, target: SocketAddr, mut link: watch::Receiver<Link>) {
    let Ok(Ok(server)) =
        tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target)).await
    else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        let state = *link.borrow_and_update();
        match state {
            Link::Cut => return,
            Link::Hold => {
                if link.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Link::Pass => {}
        }
        tokio::select! {
            n = cr.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if sw.write_all(&up[..n]).await.is_err() { return },
            },
            n = sr.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if cw.write_all(&down[..n]).await.is_err() { return },
            },
            changed = link.changed() => if changed.is_err() { return },
        }
    }
}
