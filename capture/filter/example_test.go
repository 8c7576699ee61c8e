package filter_test

import (
	"fmt"

	"github.com/portclass/portclass/capture/filter"
)

func ExampleParse() {
	f, err := filter.Parse("tcp port 80 or 443 and not src net 192.0.2.0/24")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f)

	_, err = filter.Parse("host example.com")
	fmt.Println(err)
	// Output:
	// (tcp port 80 or tcp port 443) and not src net 192.0.2.0/24
	// filter: column 6: "example.com": hostnames are not resolved; use an address
	// 	host example.com
	// 	     ^
}

func ExampleFilter_Matcher() {
	f, err := filter.Parse("udp dst port 53")
	if err != nil {
		panic(err)
	}
	m, err := f.Matcher(1) // Ethernet
	if err != nil {
		panic(err)
	}
	frame := []byte{
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet, IPv4
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 203, 0, 113, 9, // IPv4, UDP
		0x14, 0xe9, 0, 53, 0, 8, 0, 0, // UDP 5353 -> 53
	}
	fmt.Println(m.Match(frame, len(frame)))
	// Output: true
}
