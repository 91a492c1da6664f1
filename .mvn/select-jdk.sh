# Sourced by ./mvnw (POSIX sh). vsocket needs JDK >= 22 for the FFM API. If JAVA_HOME (or the
# java on PATH) is older, pick the newest JDK >= 22 under /usr/lib/jvm; if there is none, stop
# here with a message that says what to install.
vsocket_jdk_feature() { # prints the feature version of the JDK at $1 (e.g. 25), or nothing
  if [ -r "$1/release" ]; then
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"
  elif [ -x "$1/bin/java" ]; then
    "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
  fi
}
vsocket_current_home=${JAVA_HOME-}
if [ -z "$vsocket_current_home" ] && command -v java >/dev/null 2>&1; then
  vsocket_current_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
fi
vsocket_v=$( [ -n "$vsocket_current_home" ] && vsocket_jdk_feature "$vsocket_current_home" || true)
if [ -z "$vsocket_v" ] || [ "$vsocket_v" -lt 22 ]; then
  vsocket_best= ; vsocket_best_v=0
  case $- in *f*) vsocket_noglob=1 ;; *) vsocket_noglob=0 ;; esac
  set +f
  for vsocket_home in /usr/lib/jvm/*; do
    [ -x "$vsocket_home/bin/javac" ] || continue
    vsocket_hv=$(vsocket_jdk_feature "$vsocket_home")
    if [ -n "$vsocket_hv" ] && [ "$vsocket_hv" -ge 22 ] && [ "$vsocket_hv" -gt "$vsocket_best_v" ]; then
      vsocket_best=$vsocket_home; vsocket_best_v=$vsocket_hv
    fi
  done
  [ "$vsocket_noglob" = 1 ] && set -f
  if [ -z "$vsocket_best" ]; then
    echo "vsocket needs JDK 22 or newer (FFM API); found ${vsocket_v:-no JDK}${vsocket_current_home:+ at $vsocket_current_home}." >&2
    echo "Install one (Debian: apt-get install openjdk-25-jdk, or Temurin 25) under /usr/lib/jvm, or set JAVA_HOME." >&2
    exit 1
  fi
  JAVA_HOME=$vsocket_best
  export JAVA_HOME
fi
