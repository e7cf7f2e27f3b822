package main

import (
	"fmt"

	"github.com/cairnmesh/cairn/relay/config"
)

func runConfig(args []string) error {
	if len(args) != 2 || args[0] != "check" {
		return fmt.Errorf("usage: cairn config check FILE")
	}
	if _, err := config.Load(args[1]); err != nil {
		return err
	}
	fmt.Println(args[1] + ": ok")
	return nil
}
