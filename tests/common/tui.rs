//! Driving the TUI's `App` in tests: a `TestBackend` that publishes each
//! finished frame as text, and the app running in a task, fed keys.

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use execdeck::tui::app::App;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long any one thing may take before the test calls it a hang.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A `TestBackend` that publishes each finished frame as text.
struct Recorder {
    inner: TestBackend,
    frame: Arc<Mutex<String>>,
}

impl Backend for Recorder {
    type Error = Infallible;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Infallible>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Infallible> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Infallible> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Infallible> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Infallible> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Infallible> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Infallible> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Infallible> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Infallible> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        self.inner.flush()?;
        let buf = self.inner.buffer();
        let mut text = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                text.push_str(buf[(x, y)].symbol());
            }
            text.push('\n');
        }
        *self.frame.lock().unwrap_or_else(|e| e.into_inner()) = text;
        Ok(())
    }
}

/// The app running in a task, fed keys by the test.
pub struct Tui {
    keys: mpsc::UnboundedSender<io::Result<Event>>,
    frame: Arc<Mutex<String>>,
    done: JoinHandle<io::Result<()>>,
}

impl Tui {
    /// Runs `app` on a 120x40 test backend.
    pub fn run(app: App) -> Tui {
        let frame = Arc::new(Mutex::new(String::new()));
        let backend = Recorder {
            inner: TestBackend::new(120, 40),
            frame: frame.clone(),
        };
        let (keys, rx) = mpsc::unbounded_channel();
        let input = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|ev| (ev, rx))
        }));
        let done = tokio::spawn(async move {
            let Ok(mut term) = Terminal::new(backend);
            app.run(&mut term, input).await
        });
        Tui { keys, frame, done }
    }

    pub fn press(&self, code: KeyCode, mods: KeyModifiers) {
        let _ = self.keys.send(Ok(Event::Key(KeyEvent::new(code, mods))));
    }

    pub fn key(&self, code: KeyCode) {
        self.press(code, KeyModifiers::NONE);
    }

    pub fn ctrl(&self, c: char) {
        self.press(KeyCode::Char(c), KeyModifiers::CONTROL);
    }

    /// Types `text`, a newline as Enter.
    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            match c {
                '\n' => self.key(KeyCode::Enter),
                c => self.key(KeyCode::Char(c)),
            }
        }
    }

    pub fn screen(&self) -> String {
        self.frame.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the frame satisfies `ok`; returns it.
    pub async fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what}; the screen shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the frame shows `needle`; returns it.
    pub async fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
            .await
    }

    /// Waits for the loop to end (it has terminated the gateways then).
    pub async fn finished(self) -> io::Result<()> {
        match tokio::time::timeout(PATIENCE, self.done).await {
            Ok(joined) => joined.unwrap_or_else(|e| panic!("the app panicked: {e}")),
            Err(_) => panic!("the app did not end in time"),
        }
    }

    /// Quits (nothing running) and waits for the loop to end.
    pub async fn quit(self) {
        self.ctrl('q');
        self.finished().await.expect("the app ends cleanly");
    }
}
