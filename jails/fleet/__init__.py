"""The jails side of the fleet (docs/fleet.md): commands routed to the node
whose fail2ban they are for, run there by that node's task cluster."""
