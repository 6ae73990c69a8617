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

// readAheadFirst is the first buffer of a body of unknown length (chunked,
// or HTTP/2 without Content-Length). It doubles as the body arrives, up to
// readAheadSize, so a client that trickles a few bytes holds a few KiB,
// not readAheadSize, for as long as the route's timeout lets it.
const readAheadFirst = 4 << 10

// DefaultReadAheadBudget bounds the bytes held by read-ahead buffers at
// once, over every Proxy of the process. A request that would exceed it is
// not read ahead but streamed (its body then keeps only the streaming
// guarantee, below), so many slow clients cannot make the gateway hold
// more than this for them.
const DefaultReadAheadBudget = 64 << 20

// sharedAheadBuffers is the budget every Proxy draws on.
var sharedAheadBuffers = &aheadBuffers{limit: DefaultReadAheadBudget}

// readAhead reads the start of r's body before the upstream is contacted,
// so that a body whose framing is broken (a bad chunk size, a body cut
// short of its Content-Length) or that does not arrive in time is answered
// here, and never reaches an upstream as the start of a request. It
// returns the body to forward in r's place — the whole body when it ended
// within readAheadSize, else what was read followed by the rest, streamed
// — or the read error.
//
// The buffer is no larger than the body needs: a declared length takes
// that many bytes and one more (to see the body end), a body of unknown
// length starts at readAheadFirst and doubles as it arrives. When the
// budget of read-ahead bytes (DefaultReadAheadBudget) is spent, what was
// read so far (possibly nothing) is followed by the rest, streamed.
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
	bufs := p.aheadBuffers
	want := readAheadFirst
	if r.ContentLength > 0 {
		want = int(min(r.ContentLength+1, readAheadSize))
	}
	buf := bufs.get(want)
	if buf == nil {
		return nil, nil // over budget: streamed
	}
	n := 0
	for {
		m, err := readFull(r.Body, buf[n:])
		n += m
		switch {
		case err == io.EOF:
			// The whole body: forwarded with its length, so the upstream
			// gets one complete message. Trailer fields are not forwarded
			// (those read with the body are in r.Trailer now, and the
			// declared names go with the chunked encoding): ReverseProxy
			// never forwarded their values either.
			r.ContentLength = int64(n)
			r.TransferEncoding = nil
			r.Trailer = nil
			if n == 0 {
				bufs.put(buf)
				r.Body = http.NoBody
				return nil, nil
			}
			b := &aheadBody{buf: buf, end: n, bufs: bufs}
			r.Body = b
			return b, nil
		case err != nil:
			bufs.put(buf)
			return nil, err
		}
		// buf is full. A declared length never gets here before its end
		// (its buffer has a byte to spare), so the length is unknown.
		if len(buf) >= readAheadSize || r.ContentLength > 0 {
			break // the bound is reached
		}
		more := bufs.get(min(2*len(buf), readAheadSize))
		if more == nil {
			break // over budget
		}
		copy(more, buf[:n])
		bufs.put(buf)
		buf = more
	}
	// The rest is streamed.
	b := &aheadBody{buf: buf, end: n, bufs: bufs, rest: r.Body}
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
// buffer from aheadBuffers, then the rest of the client's body (nil when
// the whole body was read ahead).
//
// The buffer goes back to aheadBuffers when it has been read or the body
// is closed, whichever is first. The transport may still read a request
// body after ReverseProxy has returned (and closed it); the lock makes
// such a read fail rather than read a buffer that another request now
// fills.
type aheadBody struct {
	mu     sync.Mutex
	buf    []byte // nil once returned
	off    int
	end    int
	closed bool
	bufs   *aheadBuffers
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
			b.bufs.put(b.buf)
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

// Close returns the buffer and closes the client's body (as ReverseProxy
// did before readAhead took its place).
func (b *aheadBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.buf != nil {
		b.bufs.put(b.buf)
		b.buf = nil
	}
	b.mu.Unlock()
	if b.rest != nil {
		return b.rest.Close()
	}
	return nil
}

// aheadBuffers hands out read-ahead buffers within a budget: limit bytes
// held at once. Buffers smaller than readAheadFirst are allocated to size
// and left to the garbage collector (a small allocation costs little, and
// a 10-byte body then holds 11 bytes); larger ones are rounded up to a
// power of two (readAheadFirst to readAheadSize) and pooled by size, since
// allocating those per request was a large part of the proxy's cost.
type aheadBuffers struct {
	limit int64
	held  atomic.Int64 // bytes in buffers handed out and not yet put back
}

// aheadClasses pools the buffers of readAheadFirst<<i bytes, shared by
// every aheadBuffers (a pool holds no budget).
var aheadClasses [aheadClassCount]sync.Pool

const aheadClassCount = 5 // 4, 8, 16, 32 and 64 KiB

// aheadClass returns the index of the smallest class of at least n bytes,
// or -1 if n is below the classes. n is at most readAheadSize.
func aheadClass(n int) int {
	if n < readAheadFirst {
		return -1
	}
	i := 0
	for readAheadFirst<<i < n {
		i++
	}
	return i
}

// get returns a buffer of at least n bytes (n <= readAheadSize), or nil if
// it would take the bytes held over the limit.
func (a *aheadBuffers) get(n int) []byte {
	c := aheadClass(n)
	size := n
	if c >= 0 {
		size = readAheadFirst << c
	}
	if a.held.Add(int64(size)) > a.limit {
		a.held.Add(-int64(size))
		return nil
	}
	if c < 0 {
		return make([]byte, size)
	}
	if buf, ok := aheadClasses[c].Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, size)
}

// put gives back a buffer from get. The caller must not use it after.
func (a *aheadBuffers) put(buf []byte) {
	size := cap(buf)
	a.held.Add(-int64(size))
	if c := aheadClass(size); c >= 0 && readAheadFirst<<c == size {
		buf = buf[:size]
		aheadClasses[c].Put(&buf)
	}
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
func bodyReadStatus(ctx context.Context, err error) reply {
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
		return reply{status: statusClientClosedRequest}
	}
	return problemBodyMalformed
}

// serveBodyError answers a request whose body could not be read.
func (p *Proxy) serveBodyError(w http.ResponseWriter, r *http.Request, err error) {
	pr := bodyReadStatus(r.Context(), err)
	p.log.DebugContext(r.Context(), "proxy: the request body could not be read",
		"status", pr.status, "err", err)
	if pr.doc != nil {
		// The rest of the body is not worth reading, and after a framing
		// error it cannot be found.
		w.Header().Set("Connection", "close")
	}
	pr.write(w)
}
