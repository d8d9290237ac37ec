// The grpc-go peer of the interop suite (test/interop): one long-lived process per xDS bootstrap
// (GRPC_XDS_BOOTSTRAP) that takes commands as JSON lines on stdin and answers each with one JSON
// line on stdout (test/interop/protocol.md). Messages are raw JSON bytes, not protobuf, so every
// language's peer speaks the same service without generated code.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
	xdscreds "google.golang.org/grpc/credentials/xds"
)

// rawCodec passes message bytes through untouched (the payloads are JSON).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	return *(v.(*[]byte)), nil
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

var _ encoding.Codec = rawCodec{}

type command struct {
	ID          int               `json:"id"`
	Op          string            `json:"op"`
	Target      string            `json:"target"`
	Method      string            `json:"method"`
	Count       int               `json:"count"`
	Concurrency int               `json:"concurrency"`
	Headers     map[string]string `json:"headers"`
	TimeoutMs   int               `json:"timeoutMs"`
	SpacingMs   int               `json:"spacingMs"`
	Secure      bool              `json:"secure"`
	Request     json.RawMessage   `json:"request"`
	Port        int               `json:"port"`
	Name        string            `json:"name"`
	Xds         bool              `json:"xds"`
}

type callResult struct {
	Code    int     `json:"code"`
	Backend string  `json:"backend,omitempty"`
	Ms      float64 `json:"ms"`
	Message string  `json:"message,omitempty"`
}

var (
	out      = json.NewEncoder(os.Stdout)
	outMu    sync.Mutex
	chanMu   sync.Mutex
	channels = map[string]*grpc.ClientConn{}
)

func reply(v map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(v)
}

func channel(target string, secure bool) (*grpc.ClientConn, error) {
	chanMu.Lock()
	defer chanMu.Unlock()
	key := fmt.Sprintf("%s|%v", target, secure)
	if c, ok := channels[key]; ok {
		return c, nil
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if secure {
		var err error
		creds, err = xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
		if err != nil {
			return nil, err
		}
	}
	c, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	channels[key] = c
	return c, nil
}

func oneCall(conn *grpc.ClientConn, cmd command) callResult {
	timeout := time.Duration(cmd.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if len(cmd.Headers) > 0 {
		pairs := []string{}
		for k, v := range cmd.Headers {
			pairs = append(pairs, k, v)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
	}
	req := []byte(cmd.Request)
	if len(req) == 0 {
		req = []byte("{}")
	}
	var resp []byte
	start := time.Now()
	err := conn.Invoke(ctx, cmd.Method, &req, &resp, grpc.ForceCodec(rawCodec{}))
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		s := status.Convert(err)
		return callResult{Code: int(s.Code()), Ms: ms, Message: s.Message()}
	}
	var id struct {
		Backend string `json:"backend"`
	}
	_ = json.Unmarshal(resp, &id)
	return callResult{Code: 0, Backend: id.Backend, Ms: ms}
}

func calls(cmd command) map[string]any {
	conn, err := channel(cmd.Target, cmd.Secure)
	if err != nil {
		return map[string]any{"id": cmd.ID, "error": err.Error()}
	}
	if cmd.Count <= 0 {
		cmd.Count = 1
	}
	if cmd.Concurrency <= 0 {
		cmd.Concurrency = 1
	}
	results := make([]callResult, cmd.Count)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < cmd.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = oneCall(conn, cmd)
			}
		}()
	}
	for i := 0; i < cmd.Count; i++ {
		if i > 0 && cmd.SpacingMs > 0 {
			time.Sleep(time.Duration(cmd.SpacingMs) * time.Millisecond)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return map[string]any{"id": cmd.ID, "results": results}
}

// handler answers every method: {"backend": NAME}, after the request's sleepMs, or fails with its code.
func handler(name string) grpc.StreamHandler {
	return func(_ any, stream grpc.ServerStream) error {
		var req []byte
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		var r struct {
			SleepMs int `json:"sleepMs"`
			Fail    int `json:"fail"`
		}
		_ = json.Unmarshal(req, &r)
		if r.SleepMs > 0 {
			time.Sleep(time.Duration(r.SleepMs) * time.Millisecond)
		}
		if r.Fail != 0 {
			return status.Error(codes.Code(r.Fail), name+" fails on request")
		}
		resp := []byte(fmt.Sprintf(`{"backend":%q}`, name))
		return stream.SendMsg(&resp)
	}
}

func serve(cmd command) map[string]any {
	address := fmt.Sprintf("0.0.0.0:%d", cmd.Port)
	opts := []grpc.ServerOption{grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(handler(cmd.Name))}
	lis, err := net.Listen("tcp", address)
	if err != nil {
		return map[string]any{"id": cmd.ID, "error": err.Error()}
	}
	if !cmd.Xds {
		s := grpc.NewServer(opts...)
		go func() { _ = s.Serve(lis) }()
		return map[string]any{"id": cmd.ID, "serving": true}
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if cmd.Secure {
		creds, err = xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
		if err != nil {
			return map[string]any{"id": cmd.ID, "error": err.Error()}
		}
	}
	serving := make(chan string, 1)
	mode := xds.ServingModeCallback(func(addr net.Addr, args xds.ServingModeChangeArgs) {
		if args.Mode == 1 { // connectivity.ServingModeServing
			select {
			case serving <- "serving":
			default:
			}
		}
	})
	s, err := xds.NewGRPCServer(append(opts, grpc.Creds(creds), mode)...)
	if err != nil {
		return map[string]any{"id": cmd.ID, "error": err.Error()}
	}
	go func() { _ = s.Serve(lis) }()
	select {
	case <-serving:
		return map[string]any{"id": cmd.ID, "serving": true}
	case <-time.After(20 * time.Second):
		return map[string]any{"id": cmd.ID, "error": "the xDS server did not start serving within 20 s"}
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	reply(map[string]any{"ready": true, "client": "grpc-go", "version": grpc.Version})
	var wg sync.WaitGroup
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var cmd command
		if err := json.Unmarshal([]byte(line), &cmd); err != nil {
			reply(map[string]any{"error": "bad command: " + err.Error()})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch cmd.Op {
			case "calls":
				reply(calls(cmd))
			case "serve":
				reply(serve(cmd))
			default:
				reply(map[string]any{"id": cmd.ID, "error": "unknown op " + cmd.Op})
			}
		}()
	}
	wg.Wait()
}
