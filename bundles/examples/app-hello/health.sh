#!/bin/sh
# Run once after the stay-up time of the trial; exit 0 means healthy.
test -f ./etc/hello.conf
