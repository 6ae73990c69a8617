package testcluster

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy put between the nodes and a server they depend on
// (PostgreSQL, Redis), which the caller controls: Cut takes the server away
// as a failed network would, Restore brings it back, SetLatency slows it.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	cut     bool
	latency time.Duration
	conns   map[net.Conn]struct{} // both ends of every open pair
	closed  bool
	wg      sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards each connection
// to target (HOST:PORT).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", target, err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the nodes connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection and refuses new ones (accepting and
// closing them at once, so that the port stays this proxy's): to the nodes
// the server is gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// SetLatency delays every chunk of data the server sends by d (0: none),
// so that each exchange (a query and its answer) takes d longer, as
// Toxiproxy's latency toxic does downstream. It applies to open
// connections too.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

func (p *Proxy) currentLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in, out) {
			continue
		}
		p.wg.Add(2)
		go p.pipe(out, in, false)
		go p.pipe(in, out, true)
	}
}

// track registers a pair, unless the proxy was cut or closed meanwhile.
func (p *Proxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		in.Close()
		out.Close()
		return false
	}
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	return true
}

// pipe copies src to dst; when delayed (the server's side), each chunk
// once the latency of the moment it was read has passed since then: pure delay, as a long link adds, with no
// limit on throughput (a chunk behind another waits only for its own due
// time). It closes both connections when either side ends.
func (p *Proxy) pipe(dst, src net.Conn, delayed bool) {
	defer p.wg.Done()
	type chunk struct {
		data []byte
		due  time.Time
	}
	chunks := make(chan chunk, 64)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for c := range chunks {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.data); err != nil {
				src.Close() // unblock the reader
				for range chunks {
				}
				return
			}
		}
	}()
	defer func() {
		close(chunks)
		<-writerDone
		src.Close()
		dst.Close()
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			due := time.Now()
			if delayed {
				due = due.Add(p.currentLatency())
			}
			chunks <- chunk{data: buf[:n], due: due}
		}
		if err != nil {
			return // EOF or a cut: either way this pair is over
		}
	}
}
