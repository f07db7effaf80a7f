# Shared by the benchmark scripts (sourced): ports on 127.0.0.1.

# A free TCP port on 127.0.0.1, chosen at random from a high range.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# listening PORT SECONDS: waits until something listens on the port.
listening() {
	local i
	for i in $(seq 1 $(($2 * 20))); do
		ss -Htln "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}
