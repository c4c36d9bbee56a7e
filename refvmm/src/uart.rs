//! A minimal 8250 UART: enough for Linux's `earlycon=uart8250,mmio,...`.
//! Transmit only; the line status register always says "ready".

use std::io::Write;

/// Transmit holding register (write) / receive buffer (read).
const THR: u64 = 0;
/// Line control register; bit 7 switches offsets 0-1 to the divisor latch.
const LCR: u64 = 3;
/// Line status register.
const LSR: u64 = 5;
/// LSR: transmitter holding register empty, transmitter empty.
const LSR_IDLE: u8 = 0x60;
const LCR_DLAB: u8 = 0x80;

/// The UART. Bytes written to THR go to `out`.
#[derive(Debug)]
pub struct Uart<W> {
    out: W,
    lcr: u8,
    line_buffered: bool,
}

impl<W: Write> Uart<W> {
    /// A UART writing to `out`, flushed at each newline.
    pub fn new(out: W) -> Self {
        Uart {
            out,
            lcr: 0,
            line_buffered: true,
        }
    }

    /// An MMIO read at `offset` (one byte; wider reads see it zero-extended).
    pub fn read(&self, offset: u64) -> u8 {
        match offset {
            LSR => LSR_IDLE,
            LCR => self.lcr,
            _ => 0,
        }
    }

    /// An MMIO write of `byte` at `offset`.
    pub fn write(&mut self, offset: u64, byte: u8) {
        match offset {
            THR if self.lcr & LCR_DLAB == 0 => {
                // A console that cannot be written is not the guest's problem.
                let _ = self.out.write_all(&[byte]);
                if self.line_buffered && byte == b'\n' {
                    let _ = self.out.flush();
                }
            }
            LCR => self.lcr = byte,
            _ => {}
        }
    }

    /// The line control register (all the state a save carries).
    pub fn lcr(&self) -> u8 {
        self.lcr
    }

    /// Restores the line control register.
    pub fn set_lcr(&mut self, lcr: u8) {
        self.lcr = lcr;
    }

    /// The output sink.
    pub fn output(&self) -> &W {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_status_always_reads_transmitter_idle() {
        let u = Uart::new(Vec::new());
        assert_eq!(u.read(5), 0x60);
        assert_eq!(u.read(0), 0);
    }

    #[test]
    fn thr_writes_reach_the_output_but_not_with_the_divisor_latch_open() {
        let mut u = Uart::new(Vec::new());
        u.write(0, b'o');
        u.write(3, 0x80);
        u.write(0, 0x01); // divisor low byte
        u.write(3, 0x03);
        u.write(0, b'k');
        u.write(1, b'x'); // IER: not output
        assert_eq!(u.output(), b"ok");
    }
}
