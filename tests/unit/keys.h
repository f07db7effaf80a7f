/*
 * Public keys for the unit tests, made once with ssh-keygen(1) (OpenSSH
 * 9.2p1); the private halves were thrown away. The security-key entries
 * reuse the ed25519 and nistp256 points with application "ssh:". Each
 * fingerprint is what "ssh-keygen -lf" printed for the line.
 */
#ifndef LK_UNIT_KEYS_H
#define LK_UNIT_KEYS_H

#include "sshkey.h"

struct tkey {
	const char	*name;
	int		 type;
	unsigned int	 bits;
	const char	*line;
	const char	*fp;
};

enum {
	TK_ED25519,
	TK_ECDSA256,
	TK_ECDSA384,
	TK_ECDSA521,
	TK_SK_ED25519,
	TK_SK_ECDSA256,
	TK_RSA2048,
	TK_RSA3072,
	TK_RSA1024,	/* too small: refused */
	TK_COUNT
};

static const struct tkey tkeys[TK_COUNT] = {
	[TK_ED25519] = { "ed25519", LK_KEY_ED25519, 256,
	    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6TwYtvMpRJMSs+XOXt6+cu+luHnBt1"
	    "HjFmUE/7ZUbO unit-ed25519@latchkey",
	    "SHA256:01OW4AEd6s0zyxJiKBhRAMaSTgJ9wsM+aOsUnGNPL8E" },
	[TK_ECDSA256] = { "ecdsa256", LK_KEY_ECDSA_P256, 256,
	    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYA"
	    "AABBBHFDkec3Yv/NpVgTATaYttFAM2xGLZOD7rJqsD7UeSq6u+ydPXWurkUg9DxPgFed"
	    "YtUWY3jls6C6/W9jbRCRvcY= unit-ecdsa256@latchkey",
	    "SHA256:DC1WKXa7DVxIjkX+H5UsLsNBE6rrFMY//ihi9ovlkTI" },
	[TK_ECDSA384] = { "ecdsa384", LK_KEY_ECDSA_P384, 384,
	    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQA"
	    "AABhBDmVOE78tqyUXFxWJjlU6tE5pu/ki4d238v5MtEBH6wtj1arZOSPQeaAkO2cUsGx"
	    "M2M5vdbEmms5fh94Mn+urUtA5qGSA7ICbvUm4aFVniD4eAylRezYp3ViB7t62jX5uw=="
	    " unit-ecdsa384@latchkey",
	    "SHA256:HeSw6QeTxZqhjErfqLHsTPcp5NqV1/pkkQMX4UxGzbc" },
	[TK_ECDSA521] = { "ecdsa521", LK_KEY_ECDSA_P521, 521,
	    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEA"
	    "AACFBAEjRRZZTeEOPTmi8IwYtn/cH3nWARbKemdDFtzWIOOFvQXO/WOSqfVqracnJEyW"
	    "GddKn9PbizcdPERFhy/i6y24mgGB/0FcNbT6yTzdjKYgB2oIvhnb29DA5sPmOobX+Z+j"
	    "cSftv/ALswnMe+Kij6aRMwJooF4idVesz1NvJQyI3kYpmg== unit-ecdsa521@latchkey",
	    "SHA256:jIowPf+OxC710sxNXOUAhbLD5Rq9PJ3Zzg4oQVcMsdI" },
	[TK_SK_ED25519] = { "sk-ed25519", LK_KEY_SK_ED25519, 256,
	    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tA"
	    "AAAIE6TwYtvMpRJMSs+XOXt6+cu+luHnBt1HjFmUE/7ZUbOAAAABHNzaDo= "
	    "unit-sked@latchkey",
	    "SHA256:GdUleSALjtD9j1tcvNeRCcrNVOH+/6uRdVG3s67uRQA" },
	[TK_SK_ECDSA256] = { "sk-ecdsa256", LK_KEY_SK_ECDSA_P256, 256,
	    "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyN"
	    "TZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBHFDkec3Yv/NpVgTATaYttFAM2xGL"
	    "ZOD7rJqsD7UeSq6u+ydPXWurkUg9DxPgFedYtUWY3jls6C6/W9jbRCRvcYAAAAEc3NoO"
	    "g== unit-skec@latchkey",
	    "SHA256:MiDoHceJMhdaJ+0Q6PYXUFOoKJaxLGg/t9SJPdWaQ+4" },
	[TK_RSA2048] = { "rsa2048", LK_KEY_RSA, 2048,
	    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCFF0TheXIVNEvGgH7+bc0+ozW4Hh+Y"
	    "BO3+TZBB6ik1mxnC6WF1dJB3FTlg/Scr9vhSTsyNDXAiElNDz7SRJ8ymw6zu1p2wdxzv"
	    "8RSdtTCpze9Pkbta/G9bMMUOIaXyHhsUWFJW1R2esQfjxYn87uS+f4cXF8nE4ZLvfRdl"
	    "pcfcbC1vq7VBdQgT03QdmKKHjyEcolUSZ5DPM1qIqg3bnLX8K+X0ROdGgB2pduCWYV/6"
	    "83wOirJeQG+TvDkCSvr/6lK/s40OncCLofq+sbs/eN571XnJt65AxdESwEieOcIwbcj7"
	    "/woV3fe5L6X4Or5F1Wg1+YP+xXzi9sJZ+YvGA7pt unit-rsa2048@latchkey",
	    "SHA256:zELtA5OwKsgG+iFmJoNvxlHxN+Nb3nYL4h2gzdnLcS8" },
	[TK_RSA3072] = { "rsa3072", LK_KEY_RSA, 3072,
	    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCxh2Z4c1MfHNNiQKDCeXf32qoxZNCo"
	    "E6H2T2qHh729yEHjPUZ+yZhofYj8VNwZvnRAEYBvcyDIeoq1BuzmVhakUNSDGM8YsgD7"
	    "UZvbr0AxM+bw9m2ry4Nkezb1L+gczvZW6BnXL51CoZToWiXuKNfMbH2opjyMNI1GAwLy"
	    "9dWcEC24oK1/fJWaUWWNBfL3qRjs9ula2hFY6z/FsK+cftfXPoGkJp1W9vifxlMqPlpB"
	    "ZUYCXrfIccf0zO7Hlaq33O2vskXorB5ri0wdx+qPZfkvtFGIVCcidANSvfpYp4UX7LQd"
	    "aVWNoIOteX+2nWU12fLEVOrwmtGlcH76gM9PVt+oTSqZ9ygJI09wWFzeevY/NMlvMuTc"
	    "VJH7AQsep1yAT688T4z0wBgGOMRjVTTGxvPUeaAlt2in0BWghReFWKiy5v3nCKYl2vGF"
	    "chM2ijSNvfPY7b3//aitV9QEDZYj4qJJucmJgB7H8MaBxvsOClk6DQtKIlrIYVQ+ZVbm"
	    "cyudHN0= unit-rsa3072@latchkey",
	    "SHA256:waQ6jE7cM7fYxBk2tRqYQTwrEJhx3bVKI7uEtCuY9/o" },
	[TK_RSA1024] = { "rsa1024", LK_KEY_RSA, 1024,
	    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDJ3zirju5pb8eUDb10jTsvP2yFcMll"
	    "TVaUsOxxR9sloqe4X0W84Nqc+JWYP75qfzatFO0Fk3stXqfML3nRw5bBvCp355bUYbmt"
	    "JN5ycAEWlPv1p4xRELGUvI4+dyNtECYPvi0FBRczYIIGtq94S6fpwWdeRcDV3l5TocIp"
	    "AVl/Bw== unit-rsa1024@latchkey",
	    "SHA256:qQd2ZM7XGIjxuev4pvoP3sewmw23GekJDnDzupFvsZQ" },
};

#endif
