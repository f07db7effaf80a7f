/*
 * latchkeyd's "activation" and "instance" subcommands (fleet_admin.c).
 */
#ifndef LK_SERVER_FLEET_ADMIN_H
#define LK_SERVER_FLEET_ADMIN_H

struct fleet_admin_opts {
	int		 json;
	long long	 count, ttl;
	const char	*name;		/* --instance-name */
	const char	*ip_range;	/* --ip-range */
	const char	*description;
};

/* Each returns the exit status: 0, 1 (failed) or 2 (usage). */
int	fleet_admin_activation(const struct fleet_admin_opts *o, int argc,
	    char **argv);
int	fleet_admin_instance(const struct fleet_admin_opts *o, int argc,
	    char **argv);

#endif
