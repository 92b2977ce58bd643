//! Message framing.
/// placeholder
#[derive(Debug)]
pub struct Message;
/// placeholder
#[derive(Debug)]
pub enum MsgCode {}
/// placeholder
#[derive(Debug)]
pub struct FrameError;
