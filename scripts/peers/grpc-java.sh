#!/usr/bin/env bash
# grpc-java (grpc-xds) from Maven Central, compiled with the machine's JDK 17 into the interop peer
# (test/interop/java): classes in .peers/grpc-java/, run by .peers/bin/grpc-java-peer. Maven keeps
# the jars in ~/.m2. Pin: scripts/peers/pins.json ("grpc-java"), which must be the pom's grpc.version.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./scripts/peers/pins.json")["grpc-java"]')
src=test/interop/java
out=.peers/grpc-java
launcher=.peers/bin/grpc-java-peer
grep -q "<grpc.version>$version</grpc.version>" "$src/pom.xml" || { echo "$src/pom.xml does not use grpc-java $version (pins.json)" >&2; exit 1; }
sum=$(find "$src" -type f \( -name '*.java' -o -name pom.xml \) -print0 | sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
if [ -x "$launcher" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
rm -rf "$out" && mkdir -p "$out/classes"
# Maven's own output goes to a log, shown only when it fails.
if ! (cd "$src" && mvn -q -B dependency:build-classpath -Dmdep.outputFile="$OLDPWD/$out/classpath.txt") >"$out/mvn.log" 2>&1; then
  cat "$out/mvn.log" >&2
  exit 1
fi
javac -d "$out/classes" -cp "$(cat "$out/classpath.txt")" $(find "$src/src" -name '*.java')
cat > "$launcher" <<'LAUNCHER'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")/../grpc-java
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -cp "$here/classes:$(cat "$here/classpath.txt")" gitmesh.interop.Peer "$@"
LAUNCHER
chmod +x "$launcher"
echo "$sum" > "$out/stamp"
echo "grpc-java $version: $launcher"
