#!/bin/sh
# A minimal service: says which version runs, then stays up until stopped.
echo "hello-app $WAVEOS_APP_VERSION started (bundle $WAVEOS_APP_BUNDLE_ID)"
exec sleep 2147483647
