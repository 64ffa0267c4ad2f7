// Command gtc sets up, runs and operates WhatsApp bots on Meta's WhatsApp Business Cloud API.
package main

import (
	"os"

	"github.com/greentic/gtc/pkg/cli"
)

func main() { os.Exit(cli.Main()) }
