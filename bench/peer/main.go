// The go-control-plane peer of bench/side-by-side: go-control-plane's snapshot cache and xDS
// server (ADS, state of the world and delta) serving the resources gitmesh exported for one proxy
// of the generated mesh (bench/export-resources.ts), to nodes proxy-0 .. proxy-(N-1).
//
//	gcp-peer -export DIR -nodes N [-resources raw|typed]
//
// It prints "listening PORT" once serving on 127.0.0.1, then reads commands on stdin, one a line,
// and answers each on stdout:
//
//	set A|B   every node's snapshot becomes A (as exported) or B (after the change): "ok set MS"
//	gc        a full collection, memory returned to the OS: "ok gc"
//	quit      exits
//
// "raw" (the default) keeps each exported resource's bytes as they are, as the unknown fields of
// an empty message, which proto marshaling writes back verbatim: the peer sends byte-identical
// resources, and its cache's per-response marshaling is a copy. "typed" holds them as
// go-control-plane's users do, as Envoy messages its cache marshals for every response: the same
// content, but not the same bytes (Go leaves out proto3 defaults gitmesh's encoder writes, and
// orders oneof fields differently); it reports how many resources differ on stderr.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// exportedType is one entry of manifest.json (ExportedType in bench/export-resources.ts).
type exportedType struct {
	TypeURL string `json:"typeUrl"`
	Short   string `json:"short"`
	Version string `json:"version"`
	File    string `json:"file"`
	Count   int    `json:"count"`
}

type manifest struct {
	Snapshots map[string][]exportedType `json:"snapshots"`
}

// rawResource carries a resource's exported bytes as the unknown fields of an empty message, which
// proto marshaling writes back verbatim.
type rawResource struct {
	*emptypb.Empty
	name string
}

func (r rawResource) GetName() string { return r.name }

func typedMessage(typeURL string) (proto.Message, error) {
	switch typeURL {
	case "type.googleapis.com/envoy.config.cluster.v3.Cluster":
		return &cluster.Cluster{}, nil
	case "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment":
		return &endpoint.ClusterLoadAssignment{}, nil
	case "type.googleapis.com/envoy.config.listener.v3.Listener":
		return &listener.Listener{}, nil
	case "type.googleapis.com/envoy.config.route.v3.RouteConfiguration":
		return &route.RouteConfiguration{}, nil
	case "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret":
		return &tls.Secret{}, nil
	}
	return nil, fmt.Errorf("no Go type for %s", typeURL)
}

// resourceOf makes the cache's resource from one exported record.
func resourceOf(typeURL string, rec *discovery.Resource, typed bool) (types.Resource, error) {
	any := rec.GetResource()
	if any.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("%s: type %s in the %s file", rec.GetName(), any.GetTypeUrl(), typeURL)
	}
	if !typed {
		empty := &emptypb.Empty{}
		if err := proto.Unmarshal(any.GetValue(), empty); err != nil {
			return nil, fmt.Errorf("%s: %w", rec.GetName(), err)
		}
		return rawResource{Empty: empty, name: rec.GetName()}, nil
	}
	msg, err := typedMessage(typeURL)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(any.GetValue(), msg); err != nil {
		return nil, fmt.Errorf("%s: %w", rec.GetName(), err)
	}
	return msg, nil
}

// sameBytes says whether the cache will send exactly the exported bytes for a resource.
func sameBytes(res types.Resource, exported []byte) (bool, error) {
	again, err := cachev3.MarshalResource(res)
	return bytes.Equal(again, exported), err
}

func readSnapshot(dir string, exported []exportedType, typed bool, differ *int) (*cachev3.Snapshot, error) {
	snap := &cachev3.Snapshot{}
	for _, t := range exported {
		f, err := os.Open(filepath.Join(dir, t.File))
		if err != nil {
			return nil, err
		}
		in := bufio.NewReader(f)
		var items []types.Resource
		for {
			rec := &discovery.Resource{}
			if err := protodelim.UnmarshalFrom(in, rec); err == io.EOF {
				break
			} else if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", t.File, err)
			}
			res, err := resourceOf(t.TypeURL, rec, typed)
			if err != nil {
				f.Close()
				return nil, err
			}
			if name := cachev3.GetResourceName(res); name != rec.GetName() {
				f.Close()
				return nil, fmt.Errorf("%s: the cache would name it %q", rec.GetName(), name)
			}
			same, err := sameBytes(res, rec.GetResource().GetValue())
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", rec.GetName(), err)
			}
			if !same {
				if !typed {
					f.Close()
					return nil, fmt.Errorf("%s: raw resource does not marshal to its own bytes", rec.GetName())
				}
				*differ++
			}
			items = append(items, res)
		}
		f.Close()
		if len(items) != t.Count {
			return nil, fmt.Errorf("%s: %d resources, manifest says %d", t.File, len(items), t.Count)
		}
		// gitmesh's version of the full set, so both servers send the same version_info.
		snap.Resources[cachev3.GetResponseType(t.TypeURL)] = cachev3.NewResources(t.Version, items)
	}
	if typed {
		// As a go-control-plane user would before serving it.
		if err := snap.Consistent(); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func main() {
	dir := flag.String("export", "", "directory written by bench/export-resources.ts")
	nodes := flag.Int("nodes", 0, "serve nodes proxy-0 .. proxy-(N-1)")
	mode := flag.String("resources", "raw", "raw (the exported bytes) or typed (Envoy messages, as users hold them)")
	flag.Parse()
	if *dir == "" || *nodes <= 0 || (*mode != "typed" && *mode != "raw") {
		flag.Usage()
		os.Exit(2)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "gcp-peer:", err)
		os.Exit(1)
	}
	data, err := os.ReadFile(filepath.Join(*dir, "manifest.json"))
	if err != nil {
		fail(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		fail(err)
	}
	snapshots := map[string]*cachev3.Snapshot{}
	differ := 0
	for _, label := range []string{"A", "B"} {
		s, err := readSnapshot(*dir, m.Snapshots[label], *mode == "typed", &differ)
		if err != nil {
			fail(fmt.Errorf("snapshot %s: %w", label, err))
		}
		snapshots[label] = s
	}
	if differ > 0 {
		fmt.Fprintf(os.Stderr, "gcp-peer: typed: %d resources marshal to other bytes than gitmesh's (same content)\n", differ)
	}

	ctx := context.Background()
	// ADS mode: EDS and RDS are answered once every name asked for is in the snapshot.
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	ids := make([]string, *nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("proxy-%d", i)
	}
	set := func(label string) error {
		for _, id := range ids {
			if err := cache.SetSnapshot(ctx, id, snapshots[label]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := set("A"); err != nil {
		fail(err)
	}
	srv := serverv3.NewServer(ctx, cache, nil, sotw.WithOrderedADS())
	// The same connection settings as gitmesh's XdsServer.
	grpcServer := grpc.NewServer(
		grpc.MaxConcurrentStreams(100),
		grpc.MaxRecvMsgSize(4*1024*1024),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(grpcServer, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	go func() {
		if err := grpcServer.Serve(lis); err != nil {
			fail(err)
		}
	}()
	fmt.Printf("listening %d\n", lis.Addr().(*net.TCPAddr).Port)

	commands := bufio.NewScanner(os.Stdin)
	for commands.Scan() {
		switch cmd := strings.Fields(commands.Text()); {
		case len(cmd) == 2 && cmd[0] == "set" && snapshots[cmd[1]] != nil:
			start := time.Now()
			if err := set(cmd[1]); err != nil {
				fail(err)
			}
			fmt.Printf("ok set %.1f\n", float64(time.Since(start).Microseconds())/1000)
		case len(cmd) == 1 && cmd[0] == "gc":
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println("ok gc")
		case len(cmd) == 1 && cmd[0] == "quit":
			grpcServer.Stop()
			return
		default:
			fmt.Printf("error unknown command %q\n", commands.Text())
		}
	}
	grpcServer.Stop()
}
