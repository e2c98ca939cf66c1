"""Admin commands (sbin/): what cluster admins and DRBD run, beside the agents."""
