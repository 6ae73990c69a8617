package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// readAheadSize bounds the part of a request body read before the upstream
// is contacted. A body that ends within it (most API calls) is forwarded
// whole, with its Content-Length, and a body that is malformed within it
// is answered 400 without the upstream ever seeing the request. Larger
// bodies are streamed after it.
const readAheadSize = 64 << 10

// readAhead reads the start of r's body before the upstream is contacted,
// so that a body whose framing is broken (a bad chunk size, a body cut
// short of its Content-Length) or that does not arrive in time is answered
// here, and never reaches an upstream as the start of a request. It
// returns the body to forward in r's place — the whole body when it ended
// within readAheadSize, else what was read followed by the rest, streamed
// — or the read error.
//
// It reads nothing when there is no body, when the declared length is
// larger than the bound (only the end of such a body can be wrong, and
// the streaming guarantee covers it), and when the client sent
// "Expect: 100-continue": reading would make the server send
// "100 Continue" on the upstream's behalf, and the upstream should keep
// its chance to refuse before the body is sent (the transport forwards
// the Expect and waits for the upstream's 100).
//
// The streaming guarantee: when reading the client's body fails after the
// upstream request has started, the transport drops the upstream
// connection (HTTP/1: without the chunked terminator or before the
// declared length; HTTP/2: RST_STREAM), so the upstream never sees a
// complete request.
func (p *Proxy) readAhead(r *http.Request) (*aheadBody, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
		r.ContentLength > readAheadSize {
		return nil, nil
	}
	if _, ok := r.Header["Expect"]; ok {
		return nil, nil
	}
	buf := p.aheadBuffers.get()
	n, err := readFull(r.Body, buf)
	switch {
	case err == io.EOF:
		// The whole body: forwarded with its length, so the upstream gets
		// one complete message. Trailer fields are not forwarded (those
		// read with the body are in r.Trailer now, and the declared names
		// go with the chunked encoding): ReverseProxy never forwarded
		// their values either.
		r.ContentLength = int64(n)
		r.TransferEncoding = nil
		r.Trailer = nil
		if n == 0 {
			p.aheadBuffers.put(buf)
			r.Body = http.NoBody
			return nil, nil
		}
		b := &aheadBody{buf: buf, end: n, pool: &p.aheadBuffers}
		r.Body = b
		return b, nil
	case err != nil:
		p.aheadBuffers.put(buf)
		return nil, err
	}
	// The bound is reached: the rest is streamed.
	b := &aheadBody{buf: buf, end: n, pool: &p.aheadBuffers, rest: r.Body}
	r.Body = b
	return b, nil
}

// readFull reads from r into buf until buf is full (nil error) or r ends
// (io.EOF, also when the last read returned data with it). Any other
// error is returned as it is.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// aheadBody is a request body after readAhead: the bytes read ahead, in a
// pooled buffer, then the rest of the client's body (nil when the whole
// body was read ahead).
//
// The buffer goes back to the pool when it has been read or the body is
// closed, whichever is first. The transport may still read a request body
// after ReverseProxy has returned (and closed it); the lock makes such a
// read fail rather than read a buffer that another request now fills.
type aheadBody struct {
	mu     sync.Mutex
	buf    []byte // nil once returned to the pool
	off    int
	end    int
	closed bool
	pool   *aheadPool
	rest   io.ReadCloser
}

func (b *aheadBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if b.buf != nil {
		n := copy(p, b.buf[b.off:b.end])
		b.off += n
		var err error
		if b.off == b.end {
			b.pool.put(b.buf)
			b.buf = nil
			if b.rest == nil {
				err = io.EOF
			}
		}
		b.mu.Unlock()
		return n, err
	}
	b.mu.Unlock()
	if b.rest == nil {
		return 0, io.EOF
	}
	// Not under the lock: this read may wait for the client, and Close
	// must not wait with it.
	return b.rest.Read(p)
}

// Close returns the buffer to the pool and closes the client's body (as
// ReverseProxy did before readAhead took its place).
func (b *aheadBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.buf != nil {
		b.pool.put(b.buf)
		b.buf = nil
	}
	b.mu.Unlock()
	if b.rest != nil {
		return b.rest.Close()
	}
	return nil
}

// aheadPool holds readAheadSize buffers.
type aheadPool struct{ p sync.Pool }

func (a *aheadPool) get() []byte {
	if buf, ok := a.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, readAheadSize)
}

func (a *aheadPool) put(buf []byte) {
	if cap(buf) != readAheadSize {
		return
	}
	buf = buf[:readAheadSize]
	a.p.Put(&buf)
}

// bodyFailure records the first error of reading the client's body.
type bodyFailure struct{ err atomic.Pointer[error] }

func (f *bodyFailure) set(err error) { f.err.CompareAndSwap(nil, &err) }

// get returns the recorded error, nil if reading has not failed.
func (f *bodyFailure) get() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

// bodyReadStatus is the one place that says what a failure to read the
// client's request body means, as the problem to answer (with no body for
// 499, which nobody reads). The upstream is never at fault. In this order:
//
//   - a read deadline (the gateway's bound on the body's arrival): 408;
//   - a body larger than a limit put on it (http.MaxBytesReader): 413;
//   - a body that ended before its declared length or its last chunk
//     (io.ErrUnexpectedEOF): the message is incomplete, 400 — also when
//     the client closed its connection, as nobody reads it then anyway;
//   - the client went away (its request's context ended: an HTTP/2 stream
//     reset, a closed connection): 499;
//   - anything else is a malformed body: 400. net/http's chunked reader
//     reports a bad chunk size, a missing CRLF, an oversized chunk length
//     or trailer, or too much non-data with plain unexported errors, and
//     HTTP/2 a DATA length that contradicts Content-Length with another;
//     they are not matched one by one, because every read error that is
//     neither the clock nor the client leaving is the body's own.
func bodyReadStatus(ctx context.Context, err error) problem {
	var ne net.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return problemBodyTimeout
	case errors.As(err, &tooLarge):
		return problemBodyTooLarge
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problemBodyMalformed
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return problem{status: statusClientClosedRequest}
	}
	return problemBodyMalformed
}

// serveBodyError answers a request whose body could not be read.
func (p *Proxy) serveBodyError(w http.ResponseWriter, r *http.Request, err error) {
	pr := bodyReadStatus(r.Context(), err)
	p.log.DebugContext(r.Context(), "proxy: the request body could not be read",
		"status", pr.status, "err", err)
	if pr.body == "" {
		w.WriteHeader(pr.status)
		return
	}
	// The rest of the body is not worth reading, and after a framing
	// error it cannot be found.
	w.Header().Set("Connection", "close")
	writeProblem(w, pr)
}
