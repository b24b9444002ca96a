"""Instance metadata in the formats cloud-init reads: the OpenStack and EC2 trees
(:mod:`stratus.metadata.base`) and the config drive that carries them
(:mod:`stratus.metadata.configdrive`)."""
